"""TTL rules at store time: Unbound's clamps, RFC 2308 negative TTL, what is not cached."""

from __future__ import annotations

import dns.rcode
import dns.rdatatype

from resolver.answers import aged, fixed, prepare
from resolver.core import UpstreamRequest
from resolver.settings import ResolverSettings
from tests.resolver.messages import query, response, ttls

S = ResolverSettings()


def req(name: str = "www.lab.example.", qtype: str = "A") -> UpstreamRequest:
    q = query(name, qtype)
    return UpstreamRequest(q.qname, q.qtype, q.qclass, None)


def test_positive_keeps_ttl() -> None:
    c = prepare(response(req(), "127.0.1.1", ttl=30), S)
    assert c is not None and c.ttl == 30 and not c.negative


def test_min_and_max_clamps() -> None:
    lo = ResolverSettings(cache_min_ttl=20)
    hi = ResolverSettings(cache_max_ttl=100)
    c1 = prepare(response(req(), "127.0.1.1", ttl=5), lo)
    c2 = prepare(response(req(), "127.0.1.1", ttl=86400), hi)
    assert c1 is not None and c1.ttl == 20 and ttls(c1.sections) == [20]
    assert c2 is not None and c2.ttl == 100


def test_negative_ttl_is_min_of_soa_ttl_and_minimum() -> None:
    for soa, want in (((3600, 5), 5), ((7, 300), 7)):
        c = prepare(response(req(), rcode=dns.rcode.NXDOMAIN, soa=soa), S)
        assert c is not None and c.negative and c.ttl == want
        assert ttls(c.sections) == [want]  # the SOA itself carries the negative TTL


def test_nodata_is_negative_too() -> None:
    c = prepare(response(req(qtype="AAAA"), soa=(3600, 9)), S)
    assert c is not None and c.negative and c.ttl == 9


def test_max_negative_ttl_clamps_then_min_ttl_applies_as_unbound() -> None:
    c = prepare(
        response(req(), rcode=dns.rcode.NXDOMAIN, soa=(3600, 3600)),
        ResolverSettings(cache_max_negative_ttl=10),
    )
    assert c is not None and c.ttl == 10
    c = prepare(
        response(req(), rcode=dns.rcode.NXDOMAIN, soa=(3600, 3600)),
        ResolverSettings(cache_max_negative_ttl=10, cache_min_ttl=15),
    )
    assert c is not None and c.ttl == 15  # msgreply.c: MIN_TTL is applied after MAX_NEG_TTL


def test_not_cached_without_soa_or_on_errors_or_ttl_zero() -> None:
    assert prepare(response(req(), rcode=dns.rcode.NXDOMAIN), S) is None
    assert prepare(response(req(qtype="AAAA")), S) is None
    assert prepare(response(req(), rcode=dns.rcode.SERVFAIL), S) is None
    assert prepare(response(req(), rcode=dns.rcode.REFUSED), S) is None
    assert prepare(response(req(), "127.0.1.1", ttl=0), S) is None
    off = ResolverSettings(cache_max_negative_ttl=0)
    assert prepare(response(req(), rcode=dns.rcode.NXDOMAIN, soa=(60, 60)), off) is None


def test_top_bit_ttl_means_zero() -> None:
    assert prepare(response(req(), "127.0.1.1", ttl=2**31 + 5), S) is None


def test_serve_original_ttl_disables_clamps() -> None:
    s = ResolverSettings(serve_original_ttl=True, cache_min_ttl=100, cache_max_ttl=200)
    c = prepare(response(req(), "127.0.1.1", ttl=5), s)
    assert c is not None and c.ttl == 5


def test_aged_rounds_down_and_fixed_sets_all() -> None:
    c = prepare(response(req(), rcode=dns.rcode.NXDOMAIN, soa=(30, 30)), S)
    assert c is not None
    assert ttls(aged(c.sections, 0.0)) == [30]
    assert ttls(aged(c.sections, 0.5)) == [29]
    assert ttls(aged(c.sections, 99)) == [0]
    assert ttls(fixed(c.sections, 30)) == [30]
    assert c.sections.authority[0].rdtype == dns.rdatatype.SOA
