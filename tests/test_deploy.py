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


def test_compose_cluster_profile_is_three_primaries_and_the_service_on_them() -> None:
    """``docker compose --profile cluster up setlist-stats-cluster``: three cluster-enabled
    primaries with the AOF on, joined once with no replicas, the service told it is a cluster."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    nodes = [services[f"redis-node-{i}"] for i in (1, 2, 3)]
    for node in nodes:
        command = " ".join(node["command"])
        assert node["profiles"] == ["cluster"] and "ports" not in node
        assert "--cluster-enabled yes" in command and "--appendonly yes" in command
    init = " ".join(services["cluster-init"]["command"])
    assert "--cluster create" in init and "--cluster-replicas 0" in init and init.count("redis-node-") == 4
    service = services["setlist-stats-cluster"]
    assert service["environment"]["REDIS_CLUSTER"] == "true" and service["profiles"] == ["cluster"]
    assert service["depends_on"]["cluster-init"]["condition"] == "service_completed_successfully"
    assert service["ports"] == ["127.0.0.1:8001:8000"]
    assert all("profiles" not in services[name] for name in ("redis", "setlist-stats"))  # the default stays one Redis
