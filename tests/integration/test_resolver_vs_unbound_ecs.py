"""Differential for ECS: `dnslab resolver` and Unbound's subnetcache module in front of the lab's
GeoDNS (`dnslab authoritative`, lab.toml, which answers with scope /16). A region is forced down
after the caches are filled: a client in the same /16 but another /24 must still get the cached
answer from both (scope reuse, RFC 7871 §7.3), a client of another location a fresh one."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from lab.procs import ProcessGroup, http_ready
from tests.conftest import DNSLAB, REPO, require_tool
from tests.integration.test_resolver_with_authoritative import kdig
from tests.resolver.peers import start_dnslab_resolver, start_lab_authoritative, start_unbound

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]

TOKEN = "resolver-test"
UNBOUND_ECS: dict[str, object] = {
    "module-config": '"subnetcache iterator"',
    "send-client-subnet": "127.0.0.1",
    "client-subnet-always-forward": True,
    "max-client-subnet-ipv4": 24,
}


def geo_answer(dns_addr: str, subnet: str) -> str:
    host, _, port = dns_addr.rpartition(":")
    q = dns.message.make_query(
        "www.lab.example.", "A", use_edns=0, options=[dns.edns.ECSOption(subnet, 24)]
    )
    r = dns.query.udp(q, host, port=int(port), timeout=3)
    return str(r.answer[0][0])


def test_ecs_scope_reuse_agrees_with_unbound_subnetcache(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    env = {"DNSLAB_ADMIN_TOKEN": TOKEN}
    auth, upstream, admin = start_lab_authoritative(procs, DNSLAB, REPO / "lab.toml", env)
    procs.wait_ready(auth, http_ready(f"http://{admin}/v1/health"))
    unbound = start_unbound(procs, require_tool("unbound"), tmp_path / "u", upstream, UNBOUND_ECS)
    _, ours, _ = start_dnslab_resolver(procs, DNSLAB, upstream, {})
    sides = {"ours": ours, "unbound": unbound.addr}

    filled = {name: kdig(addr, "127.2.3.4") for name, addr in sides.items()}
    assert {a for a, _ in filled.values()} == {"127.0.2.1"}  # eu -> eu-west

    req = urllib.request.Request(
        f"http://{admin}/v1/health/eu-west",
        data=json.dumps({"state": "down"}).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.status == 200
    assert geo_answer(upstream, "127.2.3.0") == "127.0.1.1"  # upstream moved eu to us-east

    same16 = {name: kdig(addr, "127.2.200.9") for name, addr in sides.items()}
    assert {a for a, _ in same16.values()} == {"127.0.2.1"}, same16  # cached, scope /16
    assert abs(same16["ours"][1] - same16["unbound"][1]) <= 1, same16
    other = {name: kdig(addr, "127.3.0.1") for name, addr in sides.items()}
    assert {a for a, _ in other.values()} == {"127.0.3.1"}, other  # ap: its own fresh answer
