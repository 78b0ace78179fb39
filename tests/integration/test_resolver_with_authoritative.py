"""`dnslab resolver` in front of `dnslab authoritative` (the lab's GeoDNS, lab.toml): ECS is
forwarded, answers are cached per returned scope, and turning ECS off shares one answer."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from lab.procs import ProcessGroup
from tests.conftest import DNSLAB, REPO, require_tool
from tests.resolver.peers import start_dnslab_resolver, start_lab_authoritative

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]


def kdig(listen: str, source: str, name: str = "www.lab.example") -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    out = subprocess.run(
        [require_tool("kdig"), "-p", port, f"@{host}", "-b", source, name, "+noall", "+answer"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split()
    return out[-1], int(out[1])  # (address, TTL)


def hits(metrics: str) -> float:
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=3) as resp:
        for line in resp.read().decode().splitlines():
            if line.startswith("dnslab_resolver_cache_hits_total "):
                return float(line.split()[1])
    raise AssertionError("no hits metric")


def authoritative(procs: ProcessGroup) -> str:
    _, dns_addr, _ = start_lab_authoritative(procs, DNSLAB, REPO / "lab.toml")
    return dns_addr


def test_ecs_scope_reuse_through_the_lab(procs: ProcessGroup) -> None:
    upstream = authoritative(procs)
    _, listen, metrics = start_dnslab_resolver(procs, DNSLAB, upstream, {})
    base = hits(metrics)
    assert kdig(listen, "127.2.3.4")[0] == "127.0.2.1"  # eu -> eu-west (miss)
    # another /24 in the same /16: the authoritative said scope /16, so this is a hit
    addr, _ = kdig(listen, "127.2.200.9")
    assert addr == "127.0.2.1" and hits(metrics) == base + 1
    assert kdig(listen, "127.1.0.5")[0] == "127.0.1.1"  # na -> us-east (a miss: other scope)
    assert kdig(listen, "127.3.0.1")[0] == "127.0.3.1"  # ap -> ap-south
    assert hits(metrics) == base + 1


def test_ecs_off_shares_one_answer(procs: ProcessGroup) -> None:
    upstream = authoritative(procs)
    _, listen, _ = start_dnslab_resolver(procs, DNSLAB, upstream, {"send-client-subnet": False})
    # the authoritative sees the resolver (127.0.0.1: no location) and uses order.default
    answers = {kdig(listen, src)[0] for src in ("127.1.0.5", "127.2.3.4", "127.3.0.1")}
    assert answers == {"127.0.1.1"}
