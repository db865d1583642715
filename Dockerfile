FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY projections projections
COPY service service
RUN pip install --no-cache-dir .
CMD ["setlist-stats", "serve"]
