"""The lab as containers: one address plan, and everything else derived from ``lab.toml``.

Pure. ``lab.toml`` stays the one source of the lab (regions, locations, services, checks,
resolver knobs); this module only decides *where* each component sits on the container
networks (``PLAN``) and derives from the two:

- ``container_config``: the lab.toml the containers run (the ``config`` service writes it at
  ``compose up``; nobody keeps a twin by hand),
- ``prometheus_config``: the scrape targets of that config,
- ``compose_file``: compose.yaml (checked in; ``dnslab containers compose --check`` and a test
  keep it equal to what this function renders).

Networks (docs/containers.md): ``core`` carries the control plane (health feed, admin,
metrics, the regions' control ports); ``checks`` carries only the checkers' probes to the
regions; ``clients`` carries DNS and HTTP of the clients. A region has one address on each,
so it can be cut off from the checkers only or from the clients only. Client locations are
/24s inside ``clients`` that no container holds: the drill container routes them to itself
(``ip route add local``), binds each client to its own source address, and the servers see
it without NAT, so geo answers stay right.
"""

from __future__ import annotations

import copy
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lab.drill.labgen import patch_config
from lab.drill.scenario import CheckSpec
from lab.errors import ConfigError

# compose.yaml reads these environment variables (tests set them: own tags, free ports)
IMAGE = "${DNSLAB_IMAGE:-dnslab:latest}"
PROMETHEUS_IMAGE = "${DNSLAB_PROMETHEUS_IMAGE:-dnslab-prometheus:latest}"
SCENARIOS = "${DNSLAB_SCENARIOS:-./scenarios}"  # host directory of the drill scenarios
RUNS = "${DNSLAB_RUNS:-./runs}"  # host directory the drill writes into


def _port(var: str, default: int, inner: int, proto: str = "") -> str:
    return f"127.0.0.1:${{{var}:-{default}}}:{inner}" + (f"/{proto}" if proto else "")


# the release whose @grafana/schema (observability/grafana/schema/package.json) checks the
# dashboards; not obtainable without a registry (docs/containers.md)
GRAFANA_IMAGE = "grafana/grafana:13.2.3"
CONFIG_DIR = "/config"  # the volume the config service writes and every service reads
SOURCE_DIR = "/src"  # the repository's lab.toml, zones/ and scenarios/, mounted read-only
REGION_PORT = 8080
REGION_CONTROL_PORT = 8081  # never-faulted side port: fault API and /metrics
CHECKER_PORT = 8054
SECRET = "secret"  # the lab secret's file name in CONFIG_DIR (the control plane's auth)


@dataclass(frozen=True)
class Net:
    name: str
    subnet: ipaddress.IPv4Network
    ip_range: ipaddress.IPv4Network  # docker may hand out only these (static ones too)

    def host(self, n: int) -> str:
        return str(self.ip_range[n])


CORE = Net("core", ipaddress.IPv4Network("172.30.0.0/24"), ipaddress.IPv4Network("172.30.0.0/24"))
CHECKS = Net(
    "checks", ipaddress.IPv4Network("172.30.4.0/24"), ipaddress.IPv4Network("172.30.4.0/24")
)
CLIENTS = Net(
    "clients", ipaddress.IPv4Network("172.30.8.0/21"), ipaddress.IPv4Network("172.30.8.0/24")
)
NETWORKS = (CORE, CHECKS, CLIENTS)
LAB_ALLOW = "172.30.0.0/16 allow"  # the resolver's access-control rule for the lab networks

# host numbers inside each network's ip_range
AUTHORITATIVE, RESOLVER, PROMETHEUS, GRAFANA, DRILL = 53, 55, 90, 91, 100
DRILL_METRICS_PORT = 9310  # `dnslab drill --metrics` inside the drill container
RULES_DIR = "rules"  # Prometheus rules, copied beside prometheus.yml by write_config
FIRST_REGION, FIRST_CHECKER = 11, 61


def location_net(i: int) -> ipaddress.IPv4Network:
    """The i-th location's client /24: 172.30.9.0/24, 172.30.10.0/24, ... (outside ip_range)."""
    nets = [n for n in CLIENTS.subnet.subnets(new_prefix=24) if n != CLIENTS.ip_range]
    if i >= len(nets):
        raise ConfigError(f"the container plan has room for {len(nets)} client locations")
    return nets[i]


@dataclass(frozen=True)
class RegionPlace:
    name: str
    core: str
    checks: str
    clients: str


@dataclass(frozen=True)
class CheckerPlace:
    name: str
    location: str
    core: str
    checks: str


@dataclass(frozen=True)
class Plan:
    """Where every component of a given lab.toml sits (one address per network it is on)."""

    regions: tuple[RegionPlace, ...]
    checkers: tuple[CheckerPlace, ...]
    locations: Mapping[str, ipaddress.IPv4Network]

    @property
    def authoritative_dns(self) -> str:
        return CLIENTS.host(AUTHORITATIVE)

    @property
    def authoritative_admin(self) -> str:
        return CORE.host(AUTHORITATIVE)

    @property
    def resolver_dns(self) -> str:
        return CLIENTS.host(RESOLVER)

    @property
    def resolver_metrics(self) -> str:
        return CORE.host(RESOLVER)

    def region(self, name: str) -> RegionPlace:
        for r in self.regions:
            if r.name == name:
                return r
        raise ConfigError(f"no region {name!r} in the container lab (known: {self.names})")

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.regions]


def plan(data: Mapping[str, Any]) -> Plan:
    """The address plan for a lab.toml dict: regions and locations in file order, one checker
    (vantage point) per location so the authoritative quorum is a real majority."""
    regions = list(data.get("regions", {}))
    locations = list(data.get("locations", {}))
    if not regions:
        raise ConfigError("lab.toml: regions: the container lab needs at least one region")
    if len(regions) > FIRST_CHECKER - FIRST_REGION:
        raise ConfigError(f"lab.toml: regions: the container plan has room for {50} regions")
    if not locations:
        raise ConfigError("lab.toml: locations: the container lab needs client locations")
    return Plan(
        regions=tuple(
            RegionPlace(
                name,
                CORE.host(FIRST_REGION + i),
                CHECKS.host(FIRST_REGION + i),
                CLIENTS.host(FIRST_REGION + i),
            )
            for i, name in enumerate(regions)
        ),
        checkers=tuple(
            CheckerPlace(
                f"vp-{loc}", loc, CORE.host(FIRST_CHECKER + i), CHECKS.host(FIRST_CHECKER + i)
            )
            for i, loc in enumerate(locations)
        ),
        locations={loc: location_net(i) for i, loc in enumerate(locations)},
    )


def container_config(
    data: Mapping[str, Any],
    base_dir: Path,
    ttl: int | None = None,
    checks: CheckSpec | None = None,
    resolver: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The containers' lab.toml: ``data`` (lab.toml) with the plan's addresses, absolute zone
    paths, and optionally a drill's TTL, check settings and resolver knobs (``patch_config``)."""
    out = patch_config(data, base_dir, ttl, checks, resolver=resolver)
    p = plan(out)
    auth = out["authoritative"]
    auth["listen"] = f"{p.authoritative_dns}:53"
    auth["admin_listen"] = f"{p.authoritative_admin}:8053"
    out["checkers"] = [
        {"name": c.name, "listen": f"{c.core}:{CHECKER_PORT}", "location": c.location}
        for c in p.checkers
    ]
    res = out.setdefault("resolver", {})
    res["listen"] = f"{p.resolver_dns}:53"
    res["upstream"] = auth["listen"]
    res["metrics_listen"] = f"{p.resolver_metrics}:9301"
    # the lab's networks may ask (clients, and the host through the bridge gateways' NAT)
    rules = res.pop("access-control", None) or res.pop("access_control", None) or []
    res["access_control"] = [*([rules] if isinstance(rules, str) else rules), LAB_ALLOW]
    path = out.get("checks", {}).get("path", "/healthz")
    for place in p.regions:
        region = out["regions"][place.name]
        region.pop("v6", None)  # the container networks are IPv4 only
        region.pop("cname", None)
        region["listen"] = f"{place.core}:{REGION_PORT}"
        region["check"] = f"http://{place.checks}:{REGION_PORT}{path}"
        region["v4"] = [place.clients]
    out["locations"] = {loc: [str(net)] for loc, net in p.locations.items()}
    out.pop("geoip", None)  # no GeoIP database in the image; locations are the /24s above
    return out


def prometheus_config(data: Mapping[str, Any]) -> dict[str, Any]:
    """Prometheus scraping every component of the container lab (written as JSON, which is YAML)."""
    from lab.promconfig import document

    p = plan(data)
    targets = {
        "authoritative": [f"{p.authoritative_admin}:8053"],
        "healthcheck": [f"{c.core}:{CHECKER_PORT}" for c in p.checkers],
        "resolver": [f"{p.resolver_metrics}:9301"],
        "regions": [f"{r.core}:{REGION_CONTROL_PORT}" for r in p.regions],
        # the drill container's exporter while a drill runs (down otherwise)
        "drill": [f"{CORE.host(DRILL)}:{DRILL_METRICS_PORT}"],
    }
    # the rules beside this file (write_config copies them)
    return document(targets, [f"{RULES_DIR}/*.rules.yml"], "2s", scrape_timeout="2s")


def write_config(
    source: Path,
    out_dir: Path,
    ttl: int | None = None,
    checks: CheckSpec | None = None,
    resolver: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write ``out_dir/lab.toml`` and ``out_dir/prometheus.yml`` derived from ``source``."""
    from lab.config import load_config, parse_config
    from lab.drill.labgen import to_toml
    from lab.drill.sim import load_lab

    raw, base, _ = load_lab(source)
    load_config(source)  # the source itself must be a valid lab.toml (errors name it)
    data = container_config(raw, base, ttl, checks, resolver)
    out_dir.mkdir(parents=True, exist_ok=True)
    secret = out_dir / SECRET  # the lab secret (docs/security.md): made once, kept on reruns
    if not secret.exists():
        from lab.auth import generate_secret

        generate_secret(secret)
    data["control"] = {"auth": "required", "secret_file": str(secret)}
    text = f"# generated by `dnslab containers config` from {source}; do not edit\n" + to_toml(data)
    lab = out_dir / "lab.toml"
    parse_config(text, source=str(lab), base_dir=str(out_dir))  # what we write must validate
    lab.write_text(text)
    prom = out_dir / "prometheus.yml"
    prom.write_text(json.dumps(prometheus_config(data), indent=2) + "\n")
    from lab.pkgdata import rules_dir

    (out_dir / RULES_DIR).mkdir(exist_ok=True)
    for rules in rules_dir().glob("*.rules.yml"):  # observability/rules (package data)
        (out_dir / RULES_DIR / rules.name).write_text(rules.read_text())
    return lab, prom


def netem_args(params: Mapping[str, Any]) -> list[str]:
    """``netem`` options from a fault's params: delay_ms, jitter_ms, loss_pct (at least one)."""
    known = {"delay_ms", "jitter_ms", "loss_pct", "link"}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"netem: unknown params {unknown} (known: {sorted(known)})")
    args: list[str] = []
    delay = float(params.get("delay_ms", 0))
    jitter = float(params.get("jitter_ms", 0))
    loss = float(params.get("loss_pct", 0))
    if delay < 0 or jitter < 0 or not 0 <= loss <= 100:
        raise ConfigError("netem: delay_ms and jitter_ms >= 0, loss_pct in [0, 100]")
    if delay or jitter:
        args += ["delay", f"{delay:g}ms"] + ([f"{jitter:g}ms"] if jitter else [])
    if loss:
        args += ["loss", f"{loss:g}%"]
    if not args:
        raise ConfigError("netem: give delay_ms and/or loss_pct")
    return args


# -- compose.yaml ---------------------------------------------------------------------------


def _ready(kind: str, target: str) -> dict[str, Any]:
    return {
        "test": ["CMD", "python3", "-m", "lab.ready", kind, target],
        "interval": "3s",
        "timeout": "5s",  # a loaded machine can take seconds to start Python
        "retries": 40,
    }


def _nets(**addrs: str) -> dict[str, Any]:
    return {net: {"ipv4_address": ip} for net, ip in addrs.items()}


def _dnslab(command: list[str], networks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {
        "image": IMAGE,
        "command": command,
        "networks": networks,
        "volumes": [f"config:{CONFIG_DIR}:ro"],
        "depends_on": {"config": {"condition": "service_completed_successfully"}},
    }
    for k, v in extra.items():
        if k == "depends_on":
            svc["depends_on"].update(v)
        else:
            svc[k] = v
    return svc


def compose_file(data: Mapping[str, Any]) -> dict[str, Any]:
    """compose.yaml for the lab of ``data`` (the repository's lab.toml)."""
    p = plan(data)
    conf = ["--config", f"{CONFIG_DIR}/lab.toml"]
    sec = ["--secret-file", f"{CONFIG_DIR}/{SECRET}"]
    healthy = {"condition": "service_healthy"}
    src = [f"./lab.toml:{SOURCE_DIR}/lab.toml:ro", f"./zones:{SOURCE_DIR}/zones:ro"]
    services: dict[str, Any] = {
        "config": {
            "image": IMAGE,
            "command": [
                "containers",
                "config",
                "--from",
                f"{SOURCE_DIR}/lab.toml",
                "--out",
                CONFIG_DIR,
                "--scenario",
                "${DNSLAB_SCENARIO:-}",
                "--ttl",
                "${DNSLAB_TTL:-}",
            ],
            "network_mode": "none",
            "volumes": [*src, f"{SCENARIOS}:{SOURCE_DIR}/scenarios:ro", f"config:{CONFIG_DIR}"],
        }
    }
    for r in p.regions:
        services[r.name] = _dnslab(
            [
                "region",
                "--name",
                r.name,
                "--listen",
                f"0.0.0.0:{REGION_PORT}",
                "--control",
                f"0.0.0.0:{REGION_CONTROL_PORT}",
                *sec,
            ],
            _nets(core=r.core, checks=r.checks, clients=r.clients),
            cap_add=["NET_ADMIN"],  # tc netem on its own links (drill faults)
            healthcheck=_ready("http", f"127.0.0.1:{REGION_CONTROL_PORT}/healthz"),
        )
    for c in p.checkers:
        services[c.name] = _dnslab(
            ["healthcheck", *conf, "--name", c.name, "--listen", f"0.0.0.0:{CHECKER_PORT}", *sec],
            _nets(core=c.core, checks=c.checks),
            healthcheck=_ready("http", f"127.0.0.1:{CHECKER_PORT}/v1/status"),
            depends_on={r.name: healthy for r in p.regions},
        )
    services["authoritative"] = _dnslab(
        ["authoritative", *conf, "--listen", "0.0.0.0:53", "--admin", "0.0.0.0:8053", *sec],
        _nets(core=p.authoritative_admin, clients=p.authoritative_dns),
        volumes=[f"config:{CONFIG_DIR}:ro", *src],
        ports=[
            _port("DNSLAB_DNS_PORT", 5300, 53, "udp"),
            _port("DNSLAB_DNS_PORT", 5300, 53, "tcp"),
            _port("DNSLAB_ADMIN_PORT", 8053, 8053),
        ],
        healthcheck=_ready("dns", "127.0.0.1:53"),
        depends_on={c.name: healthy for c in p.checkers},
    )
    services["resolver"] = _dnslab(
        ["resolver", *conf, "--listen", "0.0.0.0:53", "--metrics", "0.0.0.0:9301"],
        _nets(core=p.resolver_metrics, clients=p.resolver_dns),
        cap_add=["NET_ADMIN"],  # tc netem on its upstream link (drill faults)
        ports=[
            _port("DNSLAB_RESOLVER_PORT", 5301, 53, "udp"),
            _port("DNSLAB_RESOLVER_PORT", 5301, 53, "tcp"),
            _port("DNSLAB_RESOLVER_METRICS_PORT", 9301, 9301),
        ],
        healthcheck=_ready("dns", "127.0.0.1:53"),
        depends_on={"authoritative": healthy},
    )
    services["prometheus"] = {
        "image": PROMETHEUS_IMAGE,
        "command": [
            f"--config.file={CONFIG_DIR}/prometheus.yml",
            "--storage.tsdb.path=/tmp/prometheus",
            "--web.listen-address=0.0.0.0:9090",
        ],
        "networks": _nets(core=CORE.host(PROMETHEUS)),
        "volumes": [f"config:{CONFIG_DIR}:ro"],
        "ports": [_port("DNSLAB_PROMETHEUS_PORT", 9090, 9090)],
        "depends_on": {
            "config": {"condition": "service_completed_successfully"},
            "authoritative": healthy,
            "resolver": healthy,
        },
    }
    services["grafana"] = {
        "image": GRAFANA_IMAGE,
        "networks": _nets(core=CORE.host(GRAFANA)),
        "environment": {
            "GF_AUTH_ANONYMOUS_ENABLED": "true",
            "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
            "DNSLAB_PROMETHEUS_URL": f"http://{CORE.host(PROMETHEUS)}:9090",
        },
        "volumes": [
            "./observability/grafana/provisioning:/etc/grafana/provisioning:ro",
            "./observability/grafana/dashboards:/var/lib/grafana/dashboards:ro",
        ],
        "ports": [_port("DNSLAB_GRAFANA_PORT", 3000, 3000)],
        "depends_on": ["prometheus"],
    }
    services["drill"] = _dnslab(
        [
            "containers",
            "drill",
            "${DNSLAB_SCENARIO:-" + SOURCE_DIR + "/scenarios/containers.toml}",
            *conf,
            "--out",
            "/runs/${DNSLAB_RUN:-containers}",
        ],
        _nets(core=CORE.host(DRILL), clients=CLIENTS.host(DRILL)),
        profiles=["drill"],
        cap_add=["NET_ADMIN"],  # routes the client locations' /24s to itself
        volumes=[
            f"config:{CONFIG_DIR}:ro",
            f"{SCENARIOS}:{SOURCE_DIR}/scenarios:ro",
            f"{RUNS}:/runs",
            "/var/run/docker.sock:/var/run/docker.sock",  # container faults (docs)
        ],
        depends_on={"resolver": healthy},
    )
    return {
        "services": services,
        "networks": {
            n.name: {
                "driver": "bridge",
                "ipam": {"config": [{"subnet": str(n.subnet), "ip_range": str(n.ip_range)}]},
            }
            for n in NETWORKS
        },
        "volumes": {"config": {}},
    }


COMPOSE_HEADER = """\
# GENERATED by `dnslab containers compose` from lab.toml and the address plan in
# lab/containers.py: do not edit; regenerate (a test fails when this file is stale).
# The full lab as containers: `make images`, then `docker-compose up -d`; a drill:
# `docker-compose run --rm drill`. Everything publishes on 127.0.0.1 only. docs/containers.md.
"""


def render_compose(data: Mapping[str, Any]) -> str:
    import yaml

    body = str(yaml.safe_dump(copy.deepcopy(compose_file(data)), sort_keys=False, width=100))
    return COMPOSE_HEADER + body
