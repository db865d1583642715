FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY projections projections
COPY service service
RUN pip install --no-cache-dir . && useradd --system --uid 10001 --home-dir /app setlist
# runs as a user of its own, never root
USER setlist
ENV HTTP_ADDR=0.0.0.0:8000
EXPOSE 8000
# ready: Redis answers and the consumer group exists (GET /readyz)
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 \
  CMD ["python", "-c", "import urllib.request, sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status != 200)"]
CMD ["setlist-stats", "serve"]
