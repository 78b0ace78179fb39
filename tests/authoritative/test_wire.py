"""The hand-rolled query parser: good queries, and every kind of malformed input."""

from __future__ import annotations

import struct

import dns.message
import pytest

from authoritative.wire import Drop, FormErr, parse, parse_ecs


def query(name: str = "www.example.com", qtype: str = "A", **kw: object) -> bytes:
    msg = dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]
    return bytes(msg.to_wire())


def with_opt(options: bytes, payload: int = 1232, version: int = 0, flags: int = 0) -> bytes:
    base = bytearray(query())
    base[11] = 1
    return (
        bytes(base)
        + struct.pack("!BHHBBHH", 0, 41, payload, 0, version, flags, len(options))
        + options
    )


def ecs(family: int, source: int, scope: int, address: bytes) -> bytes:
    return struct.pack("!HHHBB", 8, 4 + len(address), family, source, scope) + address


def test_plain_query() -> None:
    q = parse(query())
    assert (q.qtype, q.qclass, q.opcode, q.opt) == (1, 1, 0, None)
    assert q.qend == len(query())


def test_edns_query() -> None:
    q = parse(query(use_edns=0, payload=4096, want_dnssec=True))
    assert q.opt is not None
    payload, _ext, version, flags, options = q.opt
    assert (payload, version, bool(flags & 0x8000), options) == (4096, 0, True, ())


def test_options_and_ecs() -> None:
    q = parse(with_opt(ecs(1, 24, 0, bytes([192, 0, 2])) + b"\x00\x03\x00\x00"))
    assert q.nsid and q.ecs is not None and q.ecs_error is None
    assert str(q.ecs.network) == "192.0.2.0/24"


@pytest.mark.parametrize(
    "packet",
    [
        b"",
        b"\x12\x34\x00",
        query()[:11],  # shorter than a header
        bytes([0x12, 0x34, 0x80]) + query()[3:],  # QR=1: a response
        query()[:4] + b"\x00\x02" + query()[6:],  # QDCOUNT=2
        query()[:20],  # truncated question
        query()[:12] + b"\xc0\x0c\x00\x01\x00\x01",  # compression pointer in the question
        query()[:12] + b"\x50" + b"a" * 80 + b"\x00\x00\x01\x00\x01",  # label > 63
        query()[:4] + b"\x00\x00" + query()[6:],  # QDCOUNT=0 with bytes after the header
    ],
)
def test_no_reply(packet: bytes) -> None:
    with pytest.raises(Drop):
        parse(packet)


@pytest.mark.parametrize(
    "packet",
    [
        query() + b"xx",  # trailing bytes
        query()[:6] + b"\x00\x01" + query()[8:],  # ANCOUNT=1, no record
        with_opt(b"")[:-2] + b"\x00\x04",  # OPT RDLENGTH overruns
        with_opt(b"\x00\x0a\x00\x05"),  # option overruns the RDATA
        with_opt(b"")[:11] + b"\x02" + with_opt(b"")[12:] + with_opt(b"")[-11:],  # two OPTs
        with_opt(b"", payload=1),  # Knot 3.2 rejects an OPT whose class is 1
    ],
)
def test_formerr_with_question(packet: bytes) -> None:
    with pytest.raises(FormErr) as err:
        parse(packet)
    assert err.value.qend == len(query())


def test_header_only_query_parses_without_question() -> None:
    q = parse(query()[:4] + b"\x00\x00" + b"\x00" * 6)
    assert q.qend == 12


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (struct.pack("!HBB", 7, 0, 0), "family"),
        (struct.pack("!HBB", 1, 33, 0) + b"\x00" * 5, "exceeds"),
        (struct.pack("!HBB", 1, 24, 33) + b"\x00" * 3, "exceeds"),
        (struct.pack("!HBB", 1, 24, 0) + b"\xc0\x00", "shorter"),
        (b"\x00\x01", "shorter than 4"),
    ],
)
def test_invalid_ecs(body: bytes, problem: str) -> None:
    with pytest.raises(FormErr, match=problem):
        parse_ecs(body)
    q = parse(with_opt(struct.pack("!HH", 8, len(body)) + body))
    assert q.ecs_error is not None and problem in q.ecs_error


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (struct.pack("!HBB", 1, 20, 0) + bytes([192, 0, 255]), "bits set beyond its /20"),
        (struct.pack("!HBB", 1, 24, 0) + bytes([192, 0, 2, 0]), "has 4 bytes, a /24"),
        (struct.pack("!HBB", 2, 0, 0) + b"\x20", "has 1 bytes, a /0"),
    ],
)
def test_lax_ecs_is_invalid_too(body: bytes, problem: str) -> None:
    """RFC 7871 §6: extra ADDRESS octets or bits beyond the prefix are FORMERR (Knot echoes)."""
    with pytest.raises(FormErr, match=problem):
        parse_ecs(body)
    q = parse(with_opt(struct.pack("!HH", 8, len(body)) + body))
    assert q.ecs is None and q.ecs_error is not None and problem in q.ecs_error


def test_ecs_exact_prefix_is_kept_and_echoed() -> None:
    subnet = parse_ecs(struct.pack("!HBB", 1, 20, 0) + bytes([192, 0, 240]))
    assert str(subnet.network) == "192.0.240.0/20"
    assert subnet.option_wire(20)[-4:] == bytes([20, 192, 0, 240])


def test_last_ecs_option_counts() -> None:
    q = parse(with_opt(ecs(1, 24, 0, bytes([192, 0, 2])) + ecs(1, 16, 0, bytes([10, 1]))))
    assert q.ecs is not None and q.ecs.source == 16


def record(rtype: int, rdata: bytes, rclass: int = 1) -> bytes:
    return struct.pack("!BHHIH", 0, rtype, rclass, 0, len(rdata)) + rdata


def with_record(rr: bytes, qdcount: int = 1) -> bytes:
    base = bytearray(query() if qdcount else query()[:12])
    base[4:6] = struct.pack("!H", qdcount)
    base[10:12] = b"\x00\x01"
    return bytes(base) + rr


def test_rdata_of_known_types_is_validated() -> None:
    with pytest.raises(FormErr):
        parse(with_record(record(1, b"\x01\x02\x03")))  # A with 3 octets
    with pytest.raises(FormErr):
        parse(with_record(record(9, b"\xfe\xf8")))  # MR whose name is a bad pointer
    assert parse(with_record(record(65280, b"\x01\x02\x03"))).records == 1  # unknown type
    with pytest.raises(FormErr):
        parse(with_record(record(33, b"")))  # empty RDATA of a known type in class IN
    assert parse(with_record(record(33, b"", rclass=254))).records == 1  # class NONE (RFC 2136)
    assert parse(with_record(record(43, b"\x01"))).records == 1  # DS is a bare remainder in 3.2


def test_no_question_replies_only_when_something_parsed() -> None:
    with pytest.raises(FormErr):  # a record parsed, then trailing bytes: FORMERR
        parse(with_record(record(1, b"\x01\x02\x03\x04") + b"xx", qdcount=0))
    with pytest.raises(FormErr):  # well framed, bad RDATA: FORMERR
        parse(with_record(record(1, b"\x01\x02\x03"), qdcount=0))
    with pytest.raises(Drop):  # nothing made sense after the header
        parse(query()[:4] + b"\x00\x00" + b"\x00" * 6 + b"junk")
