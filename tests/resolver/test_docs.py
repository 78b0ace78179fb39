"""docs/resolver.md is tested: its TOML validates, its options exist, its metric names exist."""

from __future__ import annotations

import ipaddress
import re
import tomllib
from pathlib import Path
from typing import Any

import dns.name
from prometheus_client import CollectorRegistry

from resolver.ecs import ClientSubnet
from resolver.metrics import ResolverMetrics
from resolver.profiles import PROFILES
from resolver.settings import ResolverSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "resolver.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), re.S)


def test_toml_examples_validate() -> None:
    (example,) = blocks("toml")
    s = ResolverSettings.model_validate(tomllib.loads(example)["resolver"])
    assert s.serve_expired and s.serve_expired_client_timeout == 1800


def test_python_example_runs_and_carries_the_ecs_it_says() -> None:
    """The comment says step.request carries the ECS: the client's /24 (the default
    max-client-subnet-ipv4). Mutation: `ecs=None` in the request the core builds still exec'd."""
    (example,) = blocks("python")
    ns: dict[str, Any] = {}
    exec(compile(example, str(DOC), "exec"), ns)
    request = ns["step"].request
    assert request.qname == dns.name.from_text("www.lab.example.") and request.qtype == 1
    prefix = ResolverSettings().max_client_subnet_ipv4
    assert request.ecs == ClientSubnet.from_text("127.2.0.7", prefix)
    assert request.ecs.address == int(ipaddress.ip_address("127.2.0.0"))


def test_every_option_and_profile_in_the_tables_exists() -> None:
    options, rest = DOC.read_text().split("## Behaving like", 1)
    profiles = re.findall(r"^\| `([a-z0-9-]+)` \|", rest.split("\n## ", 1)[0], re.M)
    assert set(profiles) - {"like"} == set(PROFILES)  # minus the header row
    names = re.findall(r"^\| `([a-z0-9-]+)` \|", options, re.M)
    assert len(names) > 15
    fields = {f.replace("_", "-") for f in ResolverSettings.model_fields}
    assert set(names) <= fields, set(names) - fields
    documented = set(names) | {"listen", "upstream", "metrics-listen"}
    assert fields <= documented, fields - documented


def test_metric_names_exist_and_follow_the_convention() -> None:
    registry = CollectorRegistry()
    ResolverMetrics(registry, lambda: 0)
    exported = {m.name for m in registry.collect()}
    for m in registry.collect():
        assert m.name.startswith("dnslab_resolver_")
        if m.type == "counter":
            assert (m.name + "_total") in DOC.read_text()
    documented = set(re.findall(r"`(dnslab_resolver_[a-z_]+)", DOC.read_text()))
    normalized = {d.removesuffix("_total") for d in documented}
    assert normalized == exported, normalized ^ exported
