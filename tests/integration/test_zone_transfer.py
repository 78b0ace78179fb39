"""Zone transfers (issue 13 item 4): AXFR/IXFR refused unless the ACL allows, beside Knot 3.2.

knotd with an ACL (``action: transfer`` for 127.0.0.1) and ``dnslab authoritative
--transfer-allow 127.0.0.1`` serve the same zones. Denied sources, UDP, names that are not a
zone apex and up-to-date IXFRs must get the very same reply; an allowed AXFR (and an IXFR from
an older serial, answered AXFR-style without a journal) must carry the same records, SOA first
and last; dnspython's own transfer client must rebuild the zone file from dnslab's answer.
Without ``--transfer-allow`` every transfer is NOTAUTH (the differential suite checks that).
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rdatatype
import dns.rrset
import dns.zone
import pytest

from lab.procs import ProcessGroup
from tests.conftest import REPO, require_tool
from tests.integration.dnsdiff import recv_exact, summarize
from tests.integration.knot import Endpoint, Zone, start_knot
from tests.integration.servers import DATA, start_dnslab

pytestmark = [pytest.mark.integration, pytest.mark.system]

ZONES = (
    Zone("example.com.", REPO / "zones" / "example.com.zone"),
    Zone("sub.example.com.", DATA / "sub.example.com.zone"),
    Zone("example.net.", DATA / "example.net.zone"),
)
SERIAL = int(
    dns.zone.from_file(str(ZONES[0].path), "example.com.").find_rdataset("@", "SOA")[0].serial
)
ALLOWED = "127.0.0.1"
DENIED = "127.0.0.2"


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoint, Endpoint]]:
    knotd = require_tool("knotd")
    work = tmp_path_factory.mktemp("xfr")
    group = ProcessGroup(log_dir=work / "logs")
    try:
        knot = start_knot(group, knotd, work / "knot", ZONES, transfer_allow=ALLOWED)
        ours = start_dnslab(group, ZONES, extra=("--transfer-allow", ALLOWED))
        yield knot, ours
    finally:
        group.stop_all()


def xfr_query(zone: str, rdtype: str, serial: int | None = None, edns: bool = False) -> bytes:
    q = dns.message.make_query(zone, rdtype, use_edns=0 if edns else None)
    q.flags = 0
    if serial is not None:
        soa = f"ns1.{zone} hostmaster.{zone} {serial} 1 1 1 1"
        q.authority.append(dns.rrset.from_text(zone, 0, "IN", "SOA", soa))
    wire = q.to_wire()
    assert isinstance(wire, bytes)
    return wire


def tcp_messages(addr: tuple[str, int], wire: bytes, source: str = ALLOWED) -> list[bytes]:
    """Every message of the reply: until the closing SOA, an error, or a single SOA."""
    out: list[bytes] = []
    soas = 0
    with socket.create_connection(addr, timeout=3.0, source_address=(source, 0)) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        while True:
            head = recv_exact(s, 2)
            assert head is not None, "connection closed mid-transfer"
            body = recv_exact(s, struct.unpack("!H", head)[0])
            assert body is not None
            out.append(body)
            msg = dns.message.from_wire(body, one_rr_per_rrset=True)
            soas += sum(r.rdtype == dns.rdatatype.SOA for r in msg.answer)
            if msg.rcode() or soas >= 2 or (len(out) == 1 and len(msg.answer) <= 1):
                return out


def transfer_lines(msgs: list[bytes]) -> tuple[list[str], list[str]]:
    """(first and last record in wire order, every record sorted) as comparable lines."""
    rrs = []
    for body in msgs:
        for rrset in dns.message.from_wire(body, one_rr_per_rrset=True).answer:
            rrs.append(rrset.to_text().lower())
    return [rrs[0], rrs[-1]], sorted(rrs)


def header(msgs: list[bytes]) -> list[str]:
    return summarize(msgs[0])[:3] + [line for line in summarize(msgs[0]) if "question" in line]


@pytest.mark.parametrize("zone", [z.origin for z in ZONES])
@pytest.mark.parametrize(("rdtype", "serial"), [("AXFR", None), ("IXFR", 1)])
def test_allowed_transfer_carries_the_same_records(
    servers: tuple[Endpoint, Endpoint], zone: str, rdtype: str, serial: int | None
) -> None:
    knot, ours = servers
    wire = xfr_query(zone, rdtype, serial)
    theirs, mine = tcp_messages(knot.addr, wire), tcp_messages(ours.addr, wire)
    assert header(mine) == header(theirs)
    assert all(dns.message.from_wire(m).rcode() == 0 for m in mine)
    (ends, records), (knot_ends, knot_records) = transfer_lines(mine), transfer_lines(theirs)
    assert ends == knot_ends and " soa " in ends[0] and ends[0] == ends[1]
    assert records == knot_records


@pytest.mark.parametrize(
    ("what", "wire", "transport", "source"),
    [
        ("denied-axfr", xfr_query("example.com.", "AXFR"), "tcp", DENIED),
        ("denied-ixfr", xfr_query("example.com.", "IXFR", 1), "tcp", DENIED),
        ("denied-ixfr-udp", xfr_query("example.com.", "IXFR", 1), "udp", DENIED),
        ("axfr-udp", xfr_query("example.com.", "AXFR"), "udp", ALLOWED),
        ("axfr-not-apex", xfr_query("www.example.com.", "AXFR"), "tcp", ALLOWED),
        ("axfr-unknown-zone", xfr_query("example.org.", "AXFR"), "tcp", ALLOWED),
        ("ixfr-older-udp", xfr_query("example.com.", "IXFR", 1), "udp", ALLOWED),
        ("ixfr-current-tcp", xfr_query("example.com.", "IXFR", SERIAL), "tcp", ALLOWED),
        ("ixfr-current-udp", xfr_query("example.com.", "IXFR", SERIAL), "udp", ALLOWED),
        (
            "ixfr-newer-udp",
            xfr_query("example.com.", "IXFR", (SERIAL + 1000) % 2**32),
            "udp",
            ALLOWED,
        ),
    ],
)
def test_other_transfer_queries_get_knots_reply(
    servers: tuple[Endpoint, Endpoint], what: str, wire: bytes, transport: str, source: str
) -> None:
    knot, ours = servers
    replies = []
    for server in (knot, ours):
        if transport == "tcp":
            replies.append([summarize(m) for m in tcp_messages(server.addr, wire, source)])
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind((source, 0))
                s.settimeout(2.0)
                s.sendto(wire, server.addr)
                replies.append([summarize(s.recv(65535))])
    assert replies[0] == replies[1], f"{what}: Knot {replies[0]}\n dnslab {replies[1]}"


def test_dnspython_rebuilds_the_zone_from_our_axfr(servers: tuple[Endpoint, Endpoint]) -> None:
    _, ours = servers
    got = dns.zone.from_xfr(dns.query.xfr(ours.host, "example.com.", port=ours.port, timeout=3))
    want = dns.zone.from_file(str(ZONES[0].path), "example.com.", relativize=True)
    assert got == want
