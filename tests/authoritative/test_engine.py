"""The engine end to end on bytes (no sockets): cache, per-query patching, protocol rules."""

from __future__ import annotations

import struct
from collections.abc import Hashable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from authoritative.engine import Engine
from authoritative.metrics import Metrics
from authoritative.request import TCP, UDP, Request
from authoritative.state import DynamicAnswer, ServingState, chaos_names
from authoritative.zonefile import load_zone_text
from tests.authoritative.zonedata import TEXT

CLIENT = ("127.0.0.1", 5353)
BIG = TEXT + "".join(f"big A 10.1.0.{i}\n" for i in range(60))


def make_engine(registry: CollectorRegistry | None = None, text: str = BIG) -> Engine:
    zone = load_zone_text(text, "test.zone").zone
    state = ServingState({zone.origin: zone}, chaos=chaos_names("test-host", "dnslab test"))
    return Engine(state, Metrics(registry), nsid=b"test-host")


def ask(
    engine: Engine, wire: bytes, transport: str = UDP, client: tuple[str, int] = CLIENT
) -> dns.message.Message:
    reply = engine.handle(wire, transport, client)
    assert reply is not None
    return dns.message.from_wire(reply)


def q(name: str, qtype: str = "A", **kw: object) -> dns.message.QueryMessage:
    return dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]


def test_answer_patches_id_and_echoes_case_and_rd() -> None:
    engine = make_engine()
    first = q("WWW.Test.Example.")
    reply = engine.handle(first.to_wire(), UDP, CLIENT)
    assert reply is not None
    second = q("www.test.example.")
    second.flags &= ~dns.flags.RD
    raw = engine.handle(second.to_wire(), UDP, CLIENT)
    assert raw is not None
    msg = dns.message.from_wire(raw)
    assert msg.id == second.id and not msg.flags & dns.flags.RD
    assert msg.flags & dns.flags.AA and msg.answer[0].name == dns.name.from_text(
        "www.test.example."
    )
    assert b"\x03www\x04test\x07example" in raw and b"WWW" in reply  # each query's own spelling
    assert dns.message.from_wire(reply).flags & dns.flags.RD


def test_cache_hits_and_misses_are_counted() -> None:
    engine = make_engine()
    for _ in range(3):
        ask(engine, q("www.test.example.").to_wire())
    assert (engine.metrics.cache_misses, engine.metrics.cache_hits) == (1, 2)


def test_truncation_over_udp_full_answer_over_tcp() -> None:
    engine = make_engine()
    udp = ask(engine, q("big.test.example.").to_wire())
    assert udp.flags & dns.flags.TC and udp.answer == []
    tcp = ask(engine, q("big.test.example.").to_wire(), TCP)
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 60
    edns = ask(engine, q("big.test.example.", use_edns=0, payload=4096).to_wire())
    assert not edns.flags & dns.flags.TC and edns.payload == 1232


def test_opt_only_when_the_query_had_one() -> None:
    engine = make_engine()
    assert ask(engine, q("www.test.example.").to_wire()).edns == -1
    reply = ask(engine, q("www.test.example.", use_edns=0, want_dnssec=True).to_wire())
    assert reply.edns == 0 and reply.ednsflags & dns.flags.DO


def test_badvers() -> None:
    reply = ask(make_engine(), q("www.test.example.", use_edns=1).to_wire())
    assert reply.rcode() == dns.rcode.BADVERS and reply.answer == []


@pytest.mark.parametrize(("opcode", "rcode"), [(2, dns.rcode.NOTIMP), (4, dns.rcode.NOTAUTH)])
def test_other_opcodes(opcode: int, rcode: dns.rcode.Rcode) -> None:
    wire = bytearray(q("www.test.example.").to_wire())
    wire[2] |= opcode << 3
    raw = make_engine().handle(bytes(wire), UDP, CLIENT)
    assert raw is not None and raw[3] & 0xF == rcode and (raw[2] >> 3) & 0xF == opcode


def test_malformed_packets() -> None:
    engine = make_engine()
    wire = q("www.test.example.").to_wire()
    assert engine.handle(wire[:5], UDP, CLIENT) is None
    assert ask(engine, wire + b"junk").rcode() == dns.rcode.FORMERR
    assert engine.metrics.dropped == 1


def test_refused_outside_our_zones_with_ede_under_edns() -> None:
    engine = make_engine()
    plain = ask(engine, q("example.org.").to_wire())
    assert plain.rcode() == dns.rcode.REFUSED and not plain.flags & (dns.flags.AA | dns.flags.RA)
    edns = ask(engine, q("example.org.", use_edns=0).to_wire())
    assert [o.otype for o in edns.options] == [15]


def test_chaos_identity() -> None:
    reply = ask(make_engine(), q("id.server.", "TXT", rdclass="CH").to_wire())
    assert reply.answer[0].to_text() == 'id.server. 0 CH TXT "test-host"'
    other = ask(make_engine(), q("authors.bind.", "TXT", rdclass="CH").to_wire())
    assert other.rcode() == dns.rcode.REFUSED


def test_nsid_answered_when_asked() -> None:
    wire = q("www.test.example.", use_edns=0, options=[dns.edns.GenericOption(3, b"")]).to_wire()
    reply = ask(make_engine(), wire)
    assert [(o.otype, o.to_wire()) for o in reply.options] == [(3, b"test-host")]


def ecs_query(address: str, source: int, name: str = "www.test.example.") -> bytes:
    option = dns.edns.ECSOption(address, source)
    return bytes(q(name, use_edns=0, options=[option]).to_wire())


def test_ecs_is_echoed_with_scope_zero_for_static_data() -> None:
    reply = ask(make_engine(), ecs_query("192.0.2.0", 24))
    (option,) = reply.options
    assert isinstance(option, dns.edns.ECSOption)
    assert (option.address, option.srclen, option.scopelen) == ("192.0.2.0", 24, 0)


def test_invalid_ecs_is_formerr() -> None:
    wire = bytearray(ecs_query("192.0.2.0", 24))
    wire[-4] = 33  # source prefix 33 for IPv4
    raw = make_engine().handle(bytes(wire), UDP, CLIENT)
    assert raw is not None and raw[3] & 0xF == dns.rcode.FORMERR


class Geo:
    """A dynamic provider: the answer depends on the ECS prefix (variant) and on a switch."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.calls = 0

    def variant(self, request: Request) -> Hashable:
        return None if request.ecs is None else str(request.ecs.network)

    def answer(
        self, qname: dns.name.Name, qtype: int, variant: Hashable, request: Request
    ) -> DynamicAnswer | None:
        self.calls += 1
        if qtype == dns.rdatatype.SOA:
            return None  # fall through to the zone
        if qtype != dns.rdatatype.A:
            return DynamicAnswer((), 16)
        address = self.address if variant is None else f"10.0.0.{len(str(variant))}"
        return DynamicAnswer((dns.rrset.from_text(qname, 30, "IN", "A", address),), 16)


def with_geo(engine: Engine, provider: Geo) -> None:
    state = engine.state
    name = dns.name.from_text("geo.test.example.")
    engine.swap(ServingState(state.zones, {name: provider}, state.epoch + 1, state.chaos))


def test_dynamic_name_variant_scope_and_swap() -> None:
    engine = make_engine()
    geo = Geo("192.0.2.7")
    with_geo(engine, geo)
    reply = ask(engine, ecs_query("198.51.100.0", 24, "geo.test.example."))
    assert reply.answer[0][0].address == "10.0.0.15"
    assert reply.options[0].scopelen == 16  # type: ignore[attr-defined]
    ask(engine, ecs_query("198.51.100.0", 24, "geo.test.example."))
    assert geo.calls == 1  # same variant: from the cache
    plain = ask(engine, q("geo.test.example.").to_wire())
    assert plain.answer[0][0].address == "192.0.2.7" and geo.calls == 2
    nodata = ask(engine, q("geo.test.example.", "MX").to_wire())
    assert nodata.answer == [] and nodata.authority[0].rdtype == dns.rdatatype.SOA
    assert ask(engine, q("geo.test.example.", "SOA").to_wire()).rcode() == dns.rcode.NXDOMAIN
    with_geo(engine, Geo("192.0.2.8"))  # the very next answer shows the change
    assert ask(engine, q("geo.test.example.").to_wire()).answer[0][0].address == "192.0.2.8"


class Broken(Geo):
    def answer(
        self, qname: dns.name.Name, qtype: int, variant: Hashable, request: Request
    ) -> DynamicAnswer | None:
        raise RuntimeError("bug")


def test_exceptions_become_servfail_and_are_counted() -> None:
    engine = make_engine()
    with_geo(engine, Broken("192.0.2.1"))
    reply = ask(engine, q("geo.test.example.", use_edns=0).to_wire())
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.edns == 0
    assert engine.metrics.handler_errors == 1
    assert ask(engine, q("www.test.example.").to_wire()).rcode() == dns.rcode.NOERROR


def test_metrics_in_the_registry() -> None:
    registry = CollectorRegistry()
    engine = make_engine(registry)
    ask(engine, q("www.test.example.").to_wire())
    ask(engine, q("nope.test.example.", "MX").to_wire(), TCP)
    text = generate_latest(registry).decode()
    assert (
        'dnslab_authoritative_queries_total{qtype="A",rcode="NOERROR",transport="udp"} 1.0' in text
    )
    assert (
        'dnslab_authoritative_queries_total{qtype="MX",rcode="NXDOMAIN",transport="tcp"} 1.0'
        in text
    )
    assert "dnslab_authoritative_cache_misses_total 2.0" in text
    # the first of every 8 queries is timed: after two queries the histogram is not empty
    assert "dnslab_authoritative_query_duration_seconds_count 1.0" in text
    for _ in range(6):
        ask(engine, q("www.test.example.").to_wire())
    text = generate_latest(registry).decode()
    assert "dnslab_authoritative_query_duration_seconds_count 1.0" in text  # 8 queries, 1 timed
    ask(engine, q("www.test.example.").to_wire())
    text = generate_latest(registry).decode()
    assert "dnslab_authoritative_query_duration_seconds_count 2.0" in text  # the 9th is timed


def test_zone_edge_ids_are_bytes_exact() -> None:
    engine = make_engine()
    wire = bytearray(q("www.test.example.").to_wire())
    struct.pack_into("!H", wire, 0, 0xBEEF)
    raw = engine.handle(bytes(wire), UDP, CLIENT)
    assert raw is not None and raw[:2] == b"\xbe\xef"


def rcode_of(raw: bytes | None) -> int:
    assert raw is not None
    msg = dns.message.from_wire(raw)
    return int(msg.rcode())


def test_order_of_checks_like_knot() -> None:
    engine = make_engine()
    badvers_axfr = q("www.test.example.", "AXFR", use_edns=1).to_wire()
    assert rcode_of(engine.handle(badvers_axfr, UDP, CLIENT)) == dns.rcode.BADVERS
    hs_axfr = q("www.test.example.", "AXFR", rdclass="HS").to_wire()
    assert rcode_of(engine.handle(hs_axfr, UDP, CLIENT)) == dns.rcode.REFUSED
    ch_ixfr = q("id.server.", "IXFR", rdclass="CH").to_wire()
    assert rcode_of(engine.handle(ch_ixfr, UDP, CLIENT)) == dns.rcode.NOTIMP
    axfr_udp = q("test.example.", "AXFR").to_wire()
    assert rcode_of(engine.handle(axfr_udp, UDP, CLIENT)) == dns.rcode.NOTIMP
    assert rcode_of(engine.handle(axfr_udp, TCP, CLIENT)) == dns.rcode.NOTAUTH


def test_edns_expire_answers_the_zone_expire() -> None:
    wire = q("www.test.example.", use_edns=0, options=[dns.edns.GenericOption(9, b"")]).to_wire()
    reply = ask(make_engine(), wire)
    assert [(o.otype, o.to_wire()) for o in reply.options] == [(9, struct.pack("!I", 1209600))]
    refused = q("example.org.", use_edns=0, options=[dns.edns.GenericOption(9, b"")]).to_wire()
    assert [o.otype for o in ask(make_engine(), refused).options] == [15]  # no zone: no EXPIRE


def test_chaos_answers_plain_queries_only() -> None:
    wire = bytearray(q("id.server.", "TXT", rdclass="CH").to_wire())
    wire[2] |= 4 << 3  # NOTIFY
    assert rcode_of(make_engine().handle(bytes(wire), UDP, CLIENT)) == dns.rcode.NOTIMP


def test_more_records_announced_than_fit_is_formerr_or_silence() -> None:
    engine = make_engine()
    wire = bytearray(q("www.test.example.").to_wire())
    wire[10:12] = b"\x10\x00"  # ARCOUNT 4096 in a 34-byte packet
    assert rcode_of(engine.handle(bytes(wire), UDP, CLIENT)) == dns.rcode.FORMERR
    header_only = bytes(wire[:4]) + b"\x00\x00\x00\x00\x00\x00\x10\x00" + b"\x00" * 11
    assert engine.handle(header_only, UDP, CLIENT) is None  # no question, nothing parsed


def test_update_needs_an_soa_zone_section() -> None:
    engine = make_engine()
    for qtype, rcode in (("A", dns.rcode.FORMERR), ("SOA", dns.rcode.NOTAUTH)):
        wire = bytearray(q("test.example.", qtype).to_wire())
        wire[2] = 5 << 3  # UPDATE
        raw = engine.handle(bytes(wire), UDP, CLIENT)
        assert raw is not None and raw[3] & 0xF == rcode


def test_expire_on_error_replies_when_the_zone_is_found() -> None:
    wire = q(
        "test.example.", "AXFR", use_edns=0, options=[dns.edns.GenericOption(9, b"")]
    ).to_wire()
    raw = make_engine().handle(wire, UDP, CLIENT)
    assert raw is not None and raw[3] & 0xF == dns.rcode.NOTIMP
    assert raw.endswith(b"\x00\x09\x00\x04" + struct.pack("!I", 1209600))


def test_a_parser_bug_is_servfail_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import authoritative.engine

    def broken(data: bytes) -> None:
        raise IndexError("bug")

    engine = make_engine()
    monkeypatch.setattr(authoritative.engine, "parse", broken)
    raw = engine.handle(q("www.test.example.").to_wire(), UDP, CLIENT)
    assert raw is not None and raw[3] & 0xF == dns.rcode.SERVFAIL
    assert engine.metrics.handler_errors == 1


def signed(name: str, qtype: str = "A") -> bytes:
    import dns.tsigkeyring

    msg = q(name, qtype)
    msg.use_tsig(dns.tsigkeyring.from_text({"nokey.": "c2VjcmV0c2VjcmV0"}), keyname="nokey.")
    return bytes(msg.to_wire())


def test_a_signed_query_for_our_zone_is_notauth_badkey() -> None:
    wire = signed("nothere.test.example.")
    raw = make_engine().handle(wire, UDP, CLIENT)
    assert raw is not None and raw[3] & 0xF == dns.rcode.NOTAUTH and not raw[2] & 0x04
    reply = dns.message.from_wire(raw, keyring=False)
    assert reply.answer == [] and reply.authority == []
    assert reply.tsig is not None
    tsig = reply.tsig[0]
    assert (str(reply.tsig.name), tsig.error, tsig.mac, tsig.original_id) == (
        "nokey.",
        17,
        b"",
        struct.unpack("!H", wire[:2])[0],
    )


def test_a_signed_query_outside_our_zones_is_plain_refused() -> None:
    raw = make_engine().handle(signed("example.org."), UDP, CLIENT)
    assert raw is not None and raw[3] & 0xF == dns.rcode.REFUSED and raw[10:12] == b"\x00\x00"


def test_tsig_must_be_the_last_record() -> None:
    wire = bytearray(signed("www.test.example.", "A"))
    wire[7] = 1  # claim it is in the answer section
    wire[11] = 0
    assert rcode_of(make_engine().handle(bytes(wire), UDP, CLIENT)) == dns.rcode.FORMERR


def test_an_answer_beyond_64k_over_tcp_is_servfail() -> None:
    text = TEXT + "".join(f'huge TXT "{i:04d}{"h" * 250}"\n' for i in range(300))
    engine = make_engine(text=text)
    reply = ask(engine, q("huge.test.example.", "TXT").to_wire(), TCP)
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.answer == []
    assert ask(engine, q("huge.test.example.", "TXT").to_wire()).flags & dns.flags.TC


def test_short_tsig_rdata_is_formerr() -> None:
    wire = signed("www.test.example.")
    at = wire.index(b"\x05nokey\x00\x00\xfa\x00\xff")  # our TSIG record: the last one
    head, rdata = wire[: at + 15], wire[at + 17 :]
    short = rdata[:-2]  # without the other-len field
    packet = head + len(short).to_bytes(2, "big") + short
    assert make_engine().handle(head + len(rdata).to_bytes(2, "big") + rdata, UDP, CLIENT)
    raw = make_engine().handle(packet, UDP, CLIENT)
    assert raw is not None and raw[3] & 0xF == dns.rcode.FORMERR
    assert raw[10:12] == b"\x00\x00"  # no OPT, no TSIG


def test_a_batch_is_answered_as_the_same_queries_one_by_one() -> None:
    """answer_all (one wake-up's datagrams) gives the replies, counters and duration samples
    that handle() gives query by query: hits, misses, errors and drops mixed."""
    wires = [
        q("www.test.example.").to_wire(),
        q("nope.test.example.", "MX").to_wire(),
        b"\x00\x01",  # too short: dropped
        q("www.test.example.").to_wire(),
        q("WWW.test.example.", use_edns=0).to_wire(),
        struct.pack("!HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x03www",  # question cut short
    ] * 4
    one, many = make_engine(), make_engine()
    singly = [one.handle(w, UDP, CLIENT) for w in wires]
    batched = many.answer_all([(w, CLIENT) for w in wires[:9]], UDP)
    batched += many.answer_all([(w, CLIENT) for w in wires[9:]], UDP)
    assert batched == singly
    assert batched.count(None) == many.metrics.dropped >= 4
    for a, b in ((one.metrics, many.metrics),):
        assert dict(a.queries) == dict(b.queries)
        assert (a.cache_hits, a.cache_misses, a.dropped) == (
            b.cache_hits,
            b.cache_misses,
            b.dropped,
        )
        assert a.cache_hits > 0 and a.cache_misses > 0
        assert sum(a.durations) == sum(b.durations) == 3  # queries 1, 9 and 17 of 24 timed
