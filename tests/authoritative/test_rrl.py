"""Response rate limiting (Knot's mod-rrl semantics) on a virtual clock: ``now`` is passed in."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from authoritative.rrl import CAPACITY, RateLimiter, classify, slipped
from authoritative.settings import RrlSettings


def reply(name: str = "www.example.com.", rcode: int = 0, qtype: str = "A", **kw: int) -> bytes:
    query = dns.message.make_query(name, qtype, use_edns=0)
    msg = dns.message.make_response(query)
    msg.flags |= dns.flags.AA
    msg.set_rcode(rcode)
    if rcode == dns.rcode.NXDOMAIN:
        soa = "ns1.example.com. h.example.com. 1 2 3 4 5"
        msg.authority.append(dns.rrset.from_text("example.com.", 300, "IN", "SOA", soa))
    elif rcode == 0 and kw.get("answers", 1):
        msg.answer.append(dns.rrset.from_text(name, 300, "IN", "A", "192.0.2.1"))
    wire = msg.to_wire()
    assert isinstance(wire, bytes)
    return wire


def limiter(rate: int = 5, slip: int = 2, **kw: object) -> RateLimiter:
    return RateLimiter(RrlSettings.model_validate({"rate_limit": rate, "slip": slip, **kw}))


def burst(rrl: RateLimiter, n: int, wire: bytes, source: str = "192.0.2.7", now: float = 0.0):
    return [rrl.decide(wire, source, now) for _ in range(n)]


def test_a_bucket_holds_four_seconds_of_tokens_then_slips_every_nth() -> None:
    rrl = limiter(rate=5, slip=2)
    got = burst(rrl, 30, reply())
    allowed = int(5 * CAPACITY)
    assert got[:allowed] == ["send"] * allowed
    assert got[allowed:] == ["drop", "slip"] * 5
    assert (rrl.slipped, rrl.dropped) == (5, 5)


def test_tokens_come_back_at_the_rate() -> None:
    rrl = limiter(rate=5, slip=0)
    burst(rrl, 20, reply())
    assert burst(rrl, 1, reply(), now=0.1) == ["drop"]  # half a token
    assert burst(rrl, 3, reply(), now=0.4) == ["send", "send", "drop"]  # 2 tokens by 0.4 s
    assert burst(rrl, 25, reply(), now=100.0).count("send") == 20  # capped at 4 s worth


@pytest.mark.parametrize(("slip", "pattern"), [(0, ["drop"] * 6), (1, ["slip"] * 6)])
def test_slip_zero_drops_all_one_slips_all(slip: int, pattern: list[str]) -> None:
    rrl = limiter(rate=1, slip=slip)
    assert burst(rrl, 10, reply())[4:] == pattern


def test_the_source_network_is_the_slash_24() -> None:
    rrl = limiter(rate=1, slip=0)
    burst(rrl, 4, reply(), "192.0.2.7")
    assert burst(rrl, 1, reply(), "192.0.2.200") == ["drop"]  # same /24: same bucket
    assert burst(rrl, 1, reply(), "192.0.3.7") == ["send"]  # another /24
    burst(rrl, 4, reply(), "2001:db8:0:100::1")
    assert burst(rrl, 1, reply(), "2001:db8:0:1ff::2") == ["drop"]  # same /56
    assert burst(rrl, 1, reply(), "2001:db8:0:200::1") == ["send"]


def test_names_and_classes_have_their_own_buckets_nxdomain_is_per_zone() -> None:
    rrl = limiter(rate=1, slip=0)
    burst(rrl, 4, reply("www.example.com."))
    assert burst(rrl, 1, reply("www.example.com.")) == ["drop"]
    assert burst(rrl, 1, reply("mail.example.com.")) == ["send"]  # positive: per qname
    assert burst(rrl, 1, reply("www.example.com.", answers=0)) == ["send"]  # NODATA: own class
    for n in range(4):  # random names under one zone: one NXDOMAIN bucket
        assert rrl.decide(reply(f"r{n}.example.com.", 3), "192.0.2.7", 0.0) == "send"
    assert rrl.decide(reply("other.example.com.", 3), "192.0.2.7", 0.0) == "drop"


def test_classify() -> None:
    assert classify(reply("www.example.com."))[1] == b"\x03www\x07example\x03com\x00"
    assert classify(reply("x.y.example.com.", 3)) == (3, b"\x07example\x03com\x00")
    assert classify(reply(rcode=dns.rcode.REFUSED, answers=0)) == (4, b"\x00")
    assert classify(reply(qtype="ANY"))[0] == 5


def test_whitelisted_sources_are_never_limited() -> None:
    rrl = limiter(rate=1, slip=0, whitelist=["192.0.2.0/28"])
    assert set(burst(rrl, 50, reply(), "192.0.2.7")) == {"send"}
    assert "drop" in burst(rrl, 50, reply(), "192.0.2.77")


def test_a_slipped_reply_is_header_question_and_opt_with_tc() -> None:
    full = reply()
    out = dns.message.from_wire(slipped(full))
    assert out.flags & dns.flags.TC and out.flags & dns.flags.AA and out.flags & dns.flags.QR
    assert out.rcode() == 0 and not out.answer and not out.authority and out.edns == 0
    assert out.question == dns.message.from_wire(full).question
    nx = dns.message.from_wire(slipped(reply("nx.example.com.", 3)))
    assert nx.rcode() == dns.rcode.NXDOMAIN and not nx.authority and nx.flags & dns.flags.TC


def test_the_documented_example_configures_rrl() -> None:
    from pathlib import Path

    from lab.config import parse_config

    doc = (Path(__file__).parents[2] / "docs" / "authoritative.md").read_text()
    section = doc.split("## Response rate limiting", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0]
    rrl = parse_config(example).authoritative.rrl
    assert rrl is not None and (rrl.rate_limit, rrl.slip) == (20, 2)
    assert parse_config("").authoritative.rrl is None  # off by default
