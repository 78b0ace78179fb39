"""Structure-aware property tests of the hand-rolled query decoder, with dnspython as the oracle.

Queries are built by dnspython from generated parts (names of arbitrary octets, every qtype,
qclass, opcode and flag, EDNS with any payload/version/DO and ECS, NSID, EXPIRE and other
options), then decoded by ``authoritative.wire.parse`` and compared field by field with
dnspython's own decoding of the same bytes. Mutated queries and raw bytes must only ever give a
``Query``, ``Drop`` or ``FormErr`` (never another exception: that would be a SERVFAIL on the
hot path); when ``parse`` accepts, dnspython must read the same question and OPT.

Mutations that fail these tests (tried): `pos += length + 1` → `pos += length` in the question
loop; `payload == 1` → `payload <= 1` in the bare-OPT branch; `source % 8` → `source // 8` in
``parse_ecs``; dropping the `len(address) > need` check.
"""

from __future__ import annotations

import ipaddress
import os
import struct

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authoritative.request import ClientSubnet, Request
from authoritative.wire import Drop, FormErr, Query, parse, parse_ecs

ECS, NSID, EXPIRE = 8, 3, 9
# CI (CI=true) runs a fixed set of examples so a red run is reproducible; a developer's run
# explores new ones each time. DNSLAB_HYPOTHESIS_EXAMPLES=20000 for a long hunt.
SETTINGS = settings(
    max_examples=int(os.environ.get("DNSLAB_HYPOTHESIS_EXAMPLES", "300")),
    derandomize=os.environ.get("CI") == "true",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

labels = st.binary(min_size=1, max_size=63)


@st.composite
def names(draw: st.DrawFn) -> dns.name.Name:
    parts = draw(st.lists(labels, max_size=8))
    while sum(len(p) + 1 for p in parts) + 1 > 255:
        parts.pop()
    return dns.name.Name([*parts, b""])


@st.composite
def ecs_options(draw: st.DrawFn) -> dns.edns.ECSOption:
    if draw(st.booleans()):
        address = str(ipaddress.IPv4Address(draw(st.integers(0, 2**32 - 1))))
        source = draw(st.integers(0, 32))
    else:
        address = str(ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1))))
        source = draw(st.integers(0, 128))
    return dns.edns.ECSOption(address, source, 0)


def _dnspython_reads(option: dns.edns.GenericOption) -> bool:
    """Options dnspython gives a structure (COOKIE, EDE, ...) must hold valid data for it to
    read back its own message: the oracle is only asked about what it can decode."""
    body = option.to_wire()
    assert body is not None
    try:
        dns.edns.option_from_wire(option.otype, body, 0, len(body))
    except Exception:
        return False
    return True


other_options = st.builds(
    dns.edns.GenericOption,
    st.integers(0, 65535).filter(lambda c: c not in (ECS, NSID, EXPIRE)),
    st.binary(max_size=40),
).filter(_dnspython_reads)
options = st.lists(
    st.one_of(
        ecs_options(),
        st.just(dns.edns.GenericOption(NSID, b"")),
        st.just(dns.edns.GenericOption(EXPIRE, b"")),
        other_options,
    ),
    max_size=4,
)


@st.composite
def queries(draw: st.DrawFn) -> dns.message.Message:
    m = dns.message.Message(id=draw(st.integers(0, 65535)))
    m.flags = draw(st.integers(0, 0xFFFF)) & ~dns.flags.QR & ~0x780F  # opcode, rcode below
    m.set_opcode(dns.opcode.Opcode(draw(st.sampled_from(sorted(dns.opcode.Opcode)))))
    m.find_rrset(
        m.question,
        draw(names()),
        dns.rdataclass.RdataClass.make(draw(st.integers(0, 65535))),
        dns.rdatatype.RdataType.make(draw(st.integers(0, 65535))),
        create=True,
        force_unique=True,
    )
    if draw(st.booleans()):
        m.use_edns(
            draw(st.integers(0, 255)),
            dns.flags.DO if draw(st.booleans()) else 0,
            draw(st.integers(0, 65535)),
            options=draw(options),
        )
    return m


def oracle_read(data: bytes, **kw: bool) -> dns.message.Message:
    """dnspython's decoding with the opcode set to QUERY: an UPDATE would be read as zone,
    prerequisite and update sections with their own rules, but the question and OPT are laid
    out alike for every opcode, and the opcode is compared from the header."""
    return dns.message.from_wire(data[:2] + bytes([data[2] & 0x87]) + data[3:], **kw)


def opt_of(m: dns.message.Message) -> tuple[int, int, int, int, tuple[tuple[int, bytes], ...]]:
    """The OPT fields as wire.Query keeps them, read through dnspython."""
    wire_options = []
    for o in m.options:
        body = o.to_wire()
        assert body is not None
        wire_options.append((int(o.otype), body))
    ext_rcode = (m.ednsflags >> 24) & 0xFF
    return (m.payload, ext_rcode, m.edns, m.ednsflags & 0xFFFF, tuple(wire_options))


@SETTINGS
@given(queries())
def test_every_query_dnspython_writes_decodes_alike(m: dns.message.Message) -> None:
    wire = m.to_wire()
    oracle = oracle_read(wire)
    no_options = oracle.edns >= 0 and not oracle.options
    if oracle.edns >= 0 and oracle.payload == 1 and no_options:
        # Knot 3.2's rule, kept on purpose: an OPT of class 1 with empty RDATA is FORMERR
        try:
            parse(wire)
        except FormErr:
            return
        raise AssertionError("OPT class 1 with no options was accepted")
    q = parse(wire)
    question = oracle.question[0]
    assert (q.qtype, q.qclass, q.opcode) == (question.rdtype, question.rdclass, m.opcode())
    assert dns.name.from_wire(wire, 12)[0] == question.name
    assert q.name_end == 12 + len(question.name.to_wire())
    assert q.qend == q.name_end + 4
    request = Request(None, q.qtype, q.qclass, "udp", ("127.0.0.1", 1), wire=wire, opt=q.opt)
    assert request.qname == question.name
    if oracle.edns < 0:
        assert q.opt is None and request.edns is None
        assert q.qend == len(wire)
        return
    assert q.opt == opt_of(oracle)
    assert request.edns is not None and request.edns.do == bool(oracle.ednsflags & dns.flags.DO)
    assert q.nsid == any(o.otype == NSID for o in oracle.options)
    assert q.expire == any(o.otype == EXPIRE for o in oracle.options)
    ecs = [o for o in oracle.options if isinstance(o, dns.edns.ECSOption)]
    if not ecs:
        assert q.ecs is None and q.ecs_error is None
        return
    last = ecs[-1]  # several: the last one counts (as in Knot)
    assert q.ecs_error is None and q.ecs is not None
    assert q.ecs.network == ipaddress.ip_network(f"{last.address}/{last.srclen}")
    assert (q.ecs.source, q.ecs.scope) == (last.srclen, last.scopelen)


@st.composite
def ecs_bodies(draw: st.DrawFn) -> bytes:
    """ECS option bodies near and beyond the valid ones: family, prefixes, address length."""
    family = draw(st.sampled_from((1, 2, 0, 3, 0xFFFF)))
    width = {1: 32, 2: 128}.get(family, 32)
    source = draw(st.one_of(st.integers(0, width), st.integers(0, 255)))
    scope = draw(st.one_of(st.just(0), st.integers(0, 255)))
    need = (source + 7) // 8
    length = draw(st.one_of(st.just(need), st.integers(0, need + 3)))
    return struct.pack("!HBB", family, source, scope) + draw(
        st.binary(min_size=length, max_size=length)
    )


@SETTINGS
@given(st.one_of(ecs_bodies(), st.binary(max_size=24)))
def test_ecs_accepted_exactly_when_dnspython_accepts(body: bytes) -> None:
    """RFC 7871 §6 strictness, both ways: dnspython refuses the same bodies we refuse."""
    try:
        ours: ClientSubnet | None = parse_ecs(body)
    except FormErr:
        ours = None
    try:
        theirs = dns.edns.option_from_wire(ECS, body, 0, len(body))
    except (dns.exception.FormError, ValueError):
        theirs = None
    if ours is None:
        assert theirs is None, f"{body.hex()} refused, dnspython reads {theirs}"
        return
    assert isinstance(theirs, dns.edns.ECSOption), body.hex()
    assert ours.network == ipaddress.ip_network(f"{theirs.address}/{theirs.srclen}")
    assert (ours.source, ours.scope) == (theirs.srclen, theirs.scopelen)


def _check_decoded(data: bytes) -> None:
    """parse() gives a Query, Drop or FormErr; an accepted question dnspython reads the same."""
    try:
        q = parse(data)
    except (Drop, FormErr):
        return
    assert isinstance(q, Query)
    assert not data[2] & 0x80  # a response is never accepted
    if q.qend == 12:  # QDCOUNT = 0: nothing to compare
        assert data[4:6] == b"\0\0"
        return
    oracle = oracle_read(data, question_only=True)
    question = oracle.question[0]
    assert (q.qtype, q.qclass) == (question.rdtype, question.rdclass)
    assert dns.name.from_wire(data, 12)[1] == q.name_end - 12
    try:
        full = oracle_read(data)
    except Exception:
        return  # our rules accept some records dnspython's stricter RDATA checks refuse
    if q.opt is not None:
        assert q.opt == opt_of(full)


@st.composite
def mutated_queries(draw: st.DrawFn) -> bytes:
    wire = bytearray(draw(queries()).to_wire())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(("flip", "set", "cut", "insert", "delete")))
        at = draw(st.integers(0, max(0, len(wire) - 1)))
        if kind == "flip" and wire:
            wire[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and wire:
            wire[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del wire[at:]
        elif kind == "insert":
            wire[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif wire:
            del wire[at : at + draw(st.integers(1, 4))]
    return bytes(wire)


@SETTINGS
@given(mutated_queries())
def test_mutated_queries_never_raise_anything_else(data: bytes) -> None:
    _check_decoded(data)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_else(data: bytes) -> None:
    _check_decoded(data)


@SETTINGS
@given(st.binary(min_size=12, max_size=12), st.binary(max_size=300))
def test_a_query_header_then_garbage(head: bytes, rest: bytes) -> None:
    head = bytes([head[0], head[1], head[2] & 0x7F, *head[3:]])
    _check_decoded(head + rest)


def test_the_oracle_sees_what_dnspython_writes() -> None:
    """A fixed example of the round trip the properties rely on (ECS /22 masks 1.2.3.4)."""
    m = dns.message.make_query(
        "www.example.com", "A", use_edns=0, options=[dns.edns.ECSOption("1.2.3.4", 22)]
    )
    q = parse(m.to_wire())
    assert q.ecs is not None and str(q.ecs.network) == "1.2.0.0/22"
