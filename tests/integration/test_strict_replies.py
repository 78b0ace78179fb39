"""Issue 13 finding 7 (authoritative side): every reply the server sends parses under dnspython.

A real ``dnslab authoritative`` gets every query of the differential suite and seeded random
ones; each reply must parse with ``dns.message.from_wire`` (TSIG records read, not validated).
Before the fix two shapes failed: FORMERR/NOTAUTH replies to UPDATE messages that echoed a zone
section of another type or a meta class, and replies echoing an ECS option whose ADDRESS is
longer than its SOURCE PREFIX-LENGTH allows (now FORMERR, RFC 7871 §7.1.1).
"""

from __future__ import annotations

import random
import struct
from collections.abc import Iterator

import dns.exception
import dns.message
import dns.opcode
import dns.rcode
import dns.update
import pytest

from lab.procs import ProcessGroup
from tests.integration import diff_fuzz
from tests.integration.diff_cases import all_cases, header, opt_rr, option, question
from tests.integration.dnsdiff import send, send_batch
from tests.integration.knot import Endpoint
from tests.integration.servers import ZONES, start_dnslab

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    group = ProcessGroup(log_dir=tmp_path_factory.mktemp("strict") / "logs")
    try:
        yield start_dnslab(group, ZONES)
    finally:
        group.stop_all()


def strict_parse(reply: bytes) -> dns.message.Message:
    return dns.message.from_wire(reply, keyring=False)


def unparsable(replies: list[tuple[str, bytes | None]]) -> list[str]:
    bad = []
    for name, reply in replies:
        if reply is None:
            continue
        try:
            strict_parse(reply)
        except dns.exception.DNSException as exc:
            bad.append(f"{name}: {exc!r} reply {reply[:60].hex()}")
    return bad


def test_every_differential_case_reply_parses(server: Endpoint) -> None:
    cases = all_cases()
    replies = [
        (c.id, send(c.wire, server.addr, c.transport)) for c in cases if c.transport == "tcp"
    ]
    udp = [c for c in cases if c.transport != "tcp"]
    for start in range(0, len(udp), 100):
        batch = udp[start : start + 100]
        got = send_batch([c.wire for c in batch], [server.addr], settle=0.3)
        replies += [(c.id, r[0]) for c, r in zip(batch, got, strict=True)]
    assert sum(r is not None for _, r in replies) > 300  # the server did answer
    bad = unparsable(replies)
    assert not bad, f"{len(bad)} replies dnspython rejects:\n" + "\n".join(bad[:10])


def test_seeded_random_query_replies_parse(server: Endpoint) -> None:
    rng = random.Random("dnslab-strict-replies")
    packets = [
        gen(rng, qid=n)
        for n in range(200)
        for gen in (diff_fuzz.structured, diff_fuzz.mutated, diff_fuzz.with_records)
    ]
    replies = []
    for start in range(0, len(packets), 100):
        batch = packets[start : start + 100]
        got = send_batch(batch, [server.addr], settle=0.3)
        replies += [(wire.hex()[:80], r[0]) for wire, r in zip(batch, got, strict=True)]
    assert sum(r is not None for _, r in replies) > 100
    bad = unparsable(replies)
    assert not bad, f"{len(bad)} replies dnspython rejects:\n" + "\n".join(bad[:10])


@pytest.mark.parametrize(
    ("rdtype", "rdclass", "rcode"),
    [(1, 1, dns.rcode.FORMERR), (6, 255, dns.rcode.NOTAUTH), (6, 254, dns.rcode.REFUSED)],
)
def test_update_with_a_zone_section_that_is_no_zone(
    server: Endpoint, rdtype: int, rdclass: int, rcode: int
) -> None:
    """Knot echoes an A (or class ANY/NONE) zone section; the reply then fails to parse."""
    wire = header(flags=5 << 11) + question("example.com.", rdtype, rdclass)
    reply = send(wire, server.addr, "udp")
    assert reply is not None
    msg = strict_parse(reply)
    assert isinstance(msg, dns.update.UpdateMessage)
    assert msg.rcode() == rcode and msg.opcode() == dns.opcode.UPDATE and not msg.zone


def test_update_for_our_zone_echoes_its_zone_section(server: Endpoint) -> None:
    update = dns.update.UpdateMessage("example.com.")
    update.add("new", 30, "A", "192.0.2.9")
    reply = send(update.to_wire(), server.addr, "udp")
    assert reply is not None
    msg = strict_parse(reply)
    assert msg.rcode() == dns.rcode.NOTAUTH
    assert (
        isinstance(msg, dns.update.UpdateMessage) and msg.zone[0].name.to_text() == "example.com."
    )


@pytest.mark.parametrize(
    "body",
    [
        struct.pack("!HBB", 1, 24, 0) + bytes([192, 0, 2, 7]),  # 4 octets for a /24
        struct.pack("!HBB", 1, 20, 0) + bytes([192, 0, 255]),  # bits beyond the /20
        struct.pack("!HBB", 2, 0, 0) + bytes(16),  # a /0 with a full IPv6 ADDRESS
    ],
)
@pytest.mark.parametrize("name", ["www.example.com.", "nx.example.com.", "example.org."])
def test_lax_ecs_is_formerr_for_static_names(server: Endpoint, body: bytes, name: str) -> None:
    """RFC 7871 §7.1.1: FORMERR, with our OPT and no ECS echo, and the reply parses."""
    wire = header(ar=1) + question(name) + opt_rr(rdata=option(8, body))
    reply = send(wire, server.addr, "udp")
    assert reply is not None
    msg = strict_parse(reply)
    assert msg.rcode() == dns.rcode.FORMERR and msg.edns == 0 and not msg.options
    assert msg.question[0].name.to_text() == name
