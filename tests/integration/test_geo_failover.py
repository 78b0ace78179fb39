"""A real `dnslab authoritative --config` process: clients by source address and by ECS get
their region; forcing a region down moves exactly its clients; every all-down behaviour."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.procs import ProcessGroup
from tests.conftest import DNSLAB
from tests.integration.geo_lab import AUTH, addrs, admin, ask, scope, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]

US, EU, AP = "127.0.1.1", "127.0.2.1", "127.0.3.1"
CLIENTS = {"127.1.0.10": US, "127.2.0.10": EU, "127.3.0.10": AP}

ALL_DOWN = "".join(
    f'\n[services.{mode.replace("-", "_")}]\nname = "{mode}.lab.example."\nall_down = "{mode}"\n'
    f'[services.{mode.replace("-", "_")}.order]\nna = ["us-east", "eu-west"]\neu = ["eu-west", "us-east"]\n'
    'ap = ["ap-south", "eu-west"]\n'
    for mode in ("fail-open", "first", "servfail", "nodata")
)


def answers(port: int) -> dict[str, list[str]]:
    return {src: addrs(ask(port, src)) for src in CLIENTS}


def test_clients_get_their_region_and_failover_moves_exactly_its_clients(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    _, port, admin_port = start_lab(procs, tmp_path)
    assert answers(port) == {src: [ip] for src, ip in CLIENTS.items()}
    m = ask(port, "127.0.0.1", ecs="127.3.9.0/24")  # ECS from one address decides
    assert addrs(m) == [AP] and scope(m) == 16
    m = ask(port, "127.0.0.1", ecs="127.2.0.0/24")
    assert addrs(m) == [EU] and scope(m) == 16
    assert addrs(ask(port, "127.0.0.1")) == [US]  # default order

    r = admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
    assert r.status_code == 200, r.text
    # the very next answer: eu clients move to their next region, nobody else moves
    assert answers(port) == {"127.1.0.10": [US], "127.2.0.10": [US], "127.3.0.10": [AP]}
    assert addrs(ask(port, "127.0.0.1", ecs="127.2.0.0/24")) == [US]

    r = admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": None}, headers=AUTH)
    assert r.status_code == 200
    assert answers(port) == {src: [ip] for src, ip in CLIENTS.items()}

    assert admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "down"}).status_code == 401
    r = admin(admin_port, "PUT", "/v1/health/mars", json={"state": "down"}, headers=AUTH)
    assert r.status_code == 404 and "known: us-east, eu-west, ap-south" in r.json()["detail"]
    r = admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "dead"}, headers=AUTH)
    assert r.status_code == 422
    assert answers(port) == {src: [ip] for src, ip in CLIENTS.items()}


def test_every_all_down_behaviour(procs: ProcessGroup, tmp_path: Path) -> None:
    _, port, admin_port = start_lab(procs, tmp_path, ALL_DOWN)
    for region in ("us-east", "eu-west", "ap-south"):
        assert (
            admin(
                admin_port, "PUT", f"/v1/health/{region}", json={"state": "down"}, headers=AUTH
            ).status_code
            == 200
        )
    src = "127.2.0.10"
    fo = ask(port, src, "fail-open.lab.example.")
    assert dns.rcode.to_text(fo.rcode()) == "NOERROR" and addrs(fo) == [EU]
    first = ask(port, src, "first.lab.example.")
    assert addrs(first) == [EU]
    sf = ask(port, src, "servfail.lab.example.")
    assert dns.rcode.to_text(sf.rcode()) == "SERVFAIL" and addrs(sf) == []
    nd = ask(port, src, "nodata.lab.example.")
    assert dns.rcode.to_text(nd.rcode()) == "NOERROR" and addrs(nd) == []
    assert nd.authority and nd.authority[0].rdtype == dns.rdatatype.SOA
    # one region back: every behaviour answers it
    admin(admin_port, "PUT", "/v1/health/us-east", json={"state": None}, headers=AUTH)
    for mode in ("fail-open", "first", "servfail", "nodata"):
        assert addrs(ask(port, src, f"{mode}.lab.example.")) == [US], mode


def test_explain_cli_against_the_running_server(procs: ProcessGroup, tmp_path: Path) -> None:
    _, _, admin_port = start_lab(procs, tmp_path)
    admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
    out = subprocess.run(
        [DNSLAB, "explain", "www.lab.example.", "--client", "127.2.0.10", "--admin", f"http://127.0.0.1:{admin_port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "location   eu (matched 127.2.0.0/16)" in out
    assert "answer     www.lab.example. 30 IN A 127.0.1.1" in out
    assert "forced down (admin override" in out
    metrics = admin(admin_port, "GET", "/metrics").text
    assert _sample(metrics, "dnslab_authoritative_region_up", region="eu-west") == 0.0
    assert _sample(metrics, "dnslab_authoritative_region_up", region="us-east") == 1.0


def test_query_counter_counts_each_answered_query(procs: ProcessGroup, tmp_path: Path) -> None:
    """Mutation: with the engine's `m.queries[...] += 1` turned into `+= 0` the old check (a
    substring that the `# HELP` line alone satisfies) still passed; this one sees a delta of 0."""
    _, port, admin_port = start_lab(procs, tmp_path)
    labels = {"transport": "udp", "qtype": "TXT", "rcode": "NXDOMAIN"}
    name = "dnslab_authoritative_queries_total"
    before = _sample(admin(admin_port, "GET", "/metrics").text, name, **labels)
    for i in range(3):
        assert ask(port, name=f"nope{i}.lab.example.", qtype="TXT").rcode() == dns.rcode.NXDOMAIN
    after = _sample(admin(admin_port, "GET", "/metrics").text, name, **labels)
    assert after - before == 3


def _sample(text: str, name: str, **labels: str) -> float:
    """The one sample of `name` whose labels include `labels` (0.0 when the series is absent)."""
    found = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and labels.items() <= s.labels.items()
    ]
    assert len(found) <= 1, (name, labels, found)
    return float(found[0]) if found else 0.0


def _raw_ecs(port: int, name: str, body: bytes) -> bytes:
    """The reply to a query whose ECS option body is sent exactly as given (raw bytes: dnspython
    will not build a lax option)."""
    q = dns.message.make_query(name, "A", use_edns=0, options=[dns.edns.GenericOption(8, body)])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        s.sendto(q.to_wire(), ("127.0.0.1", port))
        reply, _ = s.recvfrom(65535)
    assert reply[:2] == q.to_wire()[:2]
    return reply


def test_invalid_ecs_is_formerr_where_it_decides_the_answer(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """RFC 7871 §6: extra ADDRESS bytes or bits beyond the source prefix are FORMERR, for a
    GeoDNS name and for static data alike (Knot 3.2 accepts them for static data)."""
    _, port, _ = start_lab(procs, tmp_path)
    family_v4 = b"\x00\x01"
    extra_bytes = family_v4 + bytes((16, 0)) + bytes((127, 2, 0, 0))  # /16 sends 4 bytes
    stray_bits = family_v4 + bytes((12, 0)) + bytes((127, 3))  # bit 15 set beyond /12
    good = family_v4 + bytes((16, 0)) + bytes((127, 2))
    for body in (extra_bytes, stray_bits):
        assert _raw_ecs(port, "www.lab.example.", body)[3] & 0xF == dns.rcode.FORMERR
        assert _raw_ecs(port, "lab.example.", body)[3] & 0xF == dns.rcode.FORMERR
    m = dns.message.from_wire(_raw_ecs(port, "www.lab.example.", good))
    assert m.rcode() == dns.rcode.NOERROR and addrs(m) == [EU] and scope(m) == 16
