"""compose.yaml offline: it is what lab/containers.py renders from lab.toml, docker-compose
accepts it, and its services agree with the container config derived from the same lab.toml.
The lab itself runs in tests/containers/."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import yaml

from lab.config import load_config
from lab.containers import NETWORKS, render_compose, write_config
from tests.conftest import DNSLAB, REPO, require_tool

COMPOSE = REPO / "compose.yaml"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def _flag(command: list[str], flag: str) -> str:
    assert flag in command, f"{flag} missing from {command}"
    return command[command.index(flag) + 1]


def test_compose_yaml_is_rendered_from_lab_toml() -> None:
    assert COMPOSE.read_text() == render_compose(tomllib.loads((REPO / "lab.toml").read_text()))
    done = subprocess.run(
        [DNSLAB, "containers", "compose", "--config", "lab.toml", "--check", "compose.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_a_stale_compose_yaml_is_reported(tmp_path: Path) -> None:
    stale = tmp_path / "compose.yaml"
    stale.write_text(COMPOSE.read_text().replace("eu-west", "eu-central"))
    done = subprocess.run(
        [
            DNSLAB,
            "containers",
            "compose",
            "--config",
            str(REPO / "lab.toml"),
            "--check",
            str(stale),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "is stale" in done.stderr


def test_docker_compose_accepts_the_file() -> None:
    tool = require_tool("docker-compose")
    result = subprocess.run(
        [tool, "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr


def test_services_agree_with_the_derived_config(tmp_path: Path) -> None:
    lab, prom = write_config(REPO / "lab.toml", tmp_path)
    cfg = load_config(lab)
    services = _compose()["services"]
    for name, region in cfg.regions.items():
        svc = services[name]
        nets = {n: v["ipv4_address"] for n, v in svc["networks"].items()}
        assert _flag(svc["command"], "--name") == name
        assert region.listen == f"{nets['core']}:8080"
        assert region.check == f"http://{nets['checks']}:8080/healthz"
        assert list(region.v4) == [nets["clients"]], "answers point at the client address"
    assert len(cfg.checkers) >= 2 and cfg.authoritative.quorum == "majority"
    for checker in cfg.checkers:
        svc = services[checker.name]
        assert checker.listen == f"{svc['networks']['core']['ipv4_address']}:8054"
        assert set(svc["networks"]) == {"core", "checks"}  # never on the clients network
    auth = services["authoritative"]["networks"]
    assert cfg.authoritative.listen == f"{auth['clients']['ipv4_address']}:53"
    assert cfg.authoritative.admin_listen == f"{auth['core']['ipv4_address']}:8053"
    res = services["resolver"]["networks"]
    assert cfg.resolver.listen == f"{res['clients']['ipv4_address']}:53"
    assert cfg.resolver.upstream == cfg.authoritative.listen
    # Prometheus scrapes every component, with the jobs the dashboards expect
    jobs = {
        j["job_name"]: {t for sc in j["static_configs"] for t in sc["targets"]}
        for j in json.loads(prom.read_text())["scrape_configs"]
    }
    assert jobs["authoritative"] == {cfg.authoritative.admin_listen}
    assert jobs["healthcheck"] == {c.listen for c in cfg.checkers}
    assert jobs["resolver"] == {cfg.resolver.metrics_listen}
    assert jobs["regions"] == {
        r.listen.replace(":8080", ":8081") for r in cfg.regions.values() if r.listen
    }
    from lab.promconfig import JOBS

    assert list(jobs) == list(JOBS)  # the jobs `dnslab up --prometheus` writes, in its order


def test_client_locations_are_inside_clients_but_no_container_holds_them(tmp_path: Path) -> None:
    cfg = load_config(write_config(REPO / "lab.toml", tmp_path)[0])
    clients = next(n for n in NETWORKS if n.name == "clients")
    held = {
        ipaddress.ip_address(v["ipv4_address"])
        for svc in _compose()["services"].values()
        for v in (svc.get("networks") or {}).values()
    }
    for loc in cfg.locations.values():
        net = ipaddress.ip_network(loc.nets[0])
        assert net.subnet_of(clients.subnet) and not net.overlaps(clients.ip_range)
        assert not any(ip in net for ip in held)


def test_static_addresses_are_inside_their_networks_and_unique() -> None:
    data = _compose()
    subnets = {
        name: ipaddress.ip_network(net["ipam"]["config"][0]["ip_range"])
        for name, net in data["networks"].items()
    }
    seen: set[str] = set()
    for name, svc in data["services"].items():
        for net, v in (svc.get("networks") or {}).items():
            ip = v["ipv4_address"]
            assert ipaddress.ip_address(ip) in subnets[net], (name, net)
            assert ip not in seen, f"{name} reuses {ip}"
            seen.add(ip)


def test_published_ports_bind_loopback_only() -> None:
    for name, svc in _compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_generated_prometheus_config_is_valid(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    _, prom = write_config(REPO / "lab.toml", tmp_path)
    result = subprocess.run(
        [promtool, "check", "config", str(prom)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_grafana_image_is_the_release_whose_schema_checks_the_dashboards() -> None:
    """compose's Grafana is the release of the `@grafana/schema` the dashboards are checked with.

    Breaking it looks like: an older image (11.2.0 was here) that cannot read schemaVersion 42.
    """
    package = json.loads((REPO / "observability/grafana/schema/package.json").read_text())
    schema_version = package["devDependencies"]["@grafana/schema"]
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    image = compose["services"]["grafana"]["image"]
    assert image == f"grafana/grafana:{schema_version}"
