"""The container setup: Redis never published on the host, the service healthy only when
ready (GET /readyz), never root."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_compose_keeps_redis_off_the_host_and_checks_readiness() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    redis, service = compose["services"]["redis"], compose["services"]["setlist-stats"]
    assert "ports" not in redis  # no 6379 on the host: the service reaches it on the compose network
    assert all(str(p).startswith("127.0.0.1:") for p in service.get("ports", []))
    assert "/readyz" in " ".join(service["healthcheck"]["test"])
    assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"


def test_the_image_runs_as_a_user_of_its_own() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*", dockerfile, re.M) and "/readyz" in dockerfile
