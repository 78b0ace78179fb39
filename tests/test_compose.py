"""compose.yaml is validated offline: docker-compose parses it, and its content agrees with the
container config (observability/lab.compose.toml) and the Prometheus scrape targets."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.config import load_config
from tests.conftest import REPO, require_tool

COMPOSE = REPO / "compose.yaml"
CONTAINER_CONFIG = REPO / "observability" / "lab.compose.toml"
PROMETHEUS = REPO / "observability" / "prometheus.yml"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _docker_engine_reachable() -> bool:
    if os.environ.get("DOCKER_HOST"):
        return True
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect("/var/run/docker.sock")
        except OSError:
            return False
    return True


def _flag(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {command}"
    return command[command.index(flag) + 1]


def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    tool = require_tool("docker-compose")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_config_is_valid() -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "config", str(PROMETHEUS)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_component_runs_with_the_container_config() -> None:
    services = _compose()["services"]
    config = load_config(CONTAINER_CONFIG)
    for region_name, region in config.regions.items():
        svc = services[region_name]
        ip = svc["networks"]["lab"]["ipv4_address"]
        assert _flag(svc["command"], "--name") == region_name
        assert _flag(svc["command"], "--listen") == region.listen == f"{ip}:8080"
        assert list(region.v4) == [ip], "answers must point at the region's container"
    auth = services["authoritative"]
    assert _flag(auth["command"], "--listen") == config.authoritative.listen
    assert _flag(auth["command"], "--admin") == config.authoritative.admin_listen
    assert config.authoritative.listen.startswith(auth["networks"]["lab"]["ipv4_address"] + ":")
    checker = services["healthcheck"]
    assert _flag(checker["command"], "--listen") == config.checkers[0].listen
    resolver = services["resolver"]
    assert _flag(resolver["command"], "--upstream") == config.authoritative.listen
    assert _flag(resolver["command"], "--listen") == config.resolver.listen


def test_static_addresses_are_inside_the_network_and_unique() -> None:
    data = _compose()
    subnet = ipaddress.ip_network(data["networks"]["lab"]["ipam"]["config"][0]["subnet"])
    seen: set[str] = set()
    for name, svc in data["services"].items():
        ip = svc["networks"]["lab"]["ipv4_address"]
        assert ipaddress.ip_address(ip) in subnet, name
        assert ip not in seen, f"{name} reuses {ip}"
        seen.add(ip)


def test_published_ports_bind_loopback_only() -> None:
    for name, svc in _compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_prometheus_scrapes_every_metrics_endpoint() -> None:
    config = load_config(CONTAINER_CONFIG)
    prom = yaml.safe_load(PROMETHEUS.read_text())
    targets = {
        job["job_name"]: {t for sc in job["static_configs"] for t in sc["targets"]}
        for job in prom["scrape_configs"]
    }
    assert targets["authoritative"] == {config.authoritative.admin_listen}
    assert targets["healthcheck"] == {c.listen for c in config.checkers}
    assert targets["resolver"] == {config.resolver.metrics_listen}
    assert targets["regions"] == {r.listen for r in config.regions.values()}


@pytest.mark.containers
def test_lab_image_builds_and_answers() -> None:
    """Only where a Docker engine is reachable (never on the CI machines of this project)."""
    if not _docker_engine_reachable():
        pytest.skip("no Docker engine reachable (no DOCKER_HOST, /var/run/docker.sock refuses)")
    from testcontainers.compose import DockerCompose

    with DockerCompose(str(REPO), compose_file_name="compose.yaml", build=True) as compose:
        stdout, _, rc = compose.exec_in_container(
            ["dnslab", "check-zone", "zones/lab.example.zone"], service_name="authoritative"
        )
        assert rc == 0, stdout
