"""What of an upstream response is cached, with which TTL, and how it is served again. Pure.

TTL rules are Unbound's (``util/data/msgreply.c``), applied once, when the answer is stored:

* every RR: ``ttl = clamp(ttl, cache-min-ttl, cache-max-ttl)``;
* the SOA in the authority section of a negative answer (RFC 2308 §5) first gets
  ``min(SOA TTL, SOA MINIMUM, cache-max-negative-ttl)``, then the same clamps;
* the entry lives for the smallest TTL of all its RRsets.

A negative answer (NXDOMAIN, or NOERROR with no answer: NODATA) without an SOA in authority
is not cached (RFC 2308 §5); neither are SERVFAIL, REFUSED, referrals or TTL-0 answers.
With ``serve-original-ttl`` the clamps are off (as in Unbound) and answers carry the TTL as
received instead of a decremented one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset

from resolver.settings import ResolverSettings

Section = tuple[dns.rrset.RRset, ...]


@dataclass(frozen=True, slots=True)
class Sections:
    """The cacheable part of a DNS response (OPT is not part of it)."""

    rcode: int
    answer: Section
    authority: Section
    additional: Section

    def rrsets(self) -> Section:
        return self.answer + self.authority + self.additional

    def min_ttl(self) -> int:
        return min((r.ttl for r in self.rrsets()), default=0)


@dataclass(frozen=True, slots=True)
class Cacheable:
    sections: Sections
    ttl: int
    negative: bool


def sections_of(response: dns.message.Message) -> Sections:
    return Sections(
        int(response.rcode()),
        tuple(response.answer),
        tuple(response.authority),
        tuple(r for r in response.additional if r.rdtype != dns.rdatatype.OPT),
    )


def is_negative(sections: Sections) -> bool:
    if sections.rcode == dns.rcode.NXDOMAIN:
        return True
    return sections.rcode == dns.rcode.NOERROR and not sections.answer


def prepare(response: dns.message.Message, settings: ResolverSettings) -> Cacheable | None:
    """The response with cache TTLs applied, or ``None`` if it must not be cached."""
    sections = sections_of(response)
    if sections.rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return None
    negative = is_negative(sections)
    if negative:
        soa = [r for r in sections.authority if r.rdtype == dns.rdatatype.SOA]
        if not soa or settings.cache_max_negative_ttl == 0:
            return None  # RFC 2308 §5: no SOA, no negative caching (also referrals)
    lo, hi = ttl_clamps(settings)
    out: list[Section] = []
    for section_index, section in enumerate((sections.answer, sections.authority)):
        out.append(tuple(_clamped(r, section_index == 1, lo, hi, settings) for r in section))
    out.append(tuple(_clamped(r, False, lo, hi, settings) for r in sections.additional))
    stored = Sections(sections.rcode, out[0], out[1], out[2])
    ttl = stored.min_ttl()
    if ttl <= 0:
        return None
    return Cacheable(stored, ttl, negative)


def ttl_clamps(settings: ResolverSettings) -> tuple[int, int]:
    """The (min, max) TTL the cache stores answers with (``cache-min-ttl``/``cache-max-ttl``;
    none with ``serve-original-ttl``). The drill's model reads its clamps from here too."""
    if settings.serve_original_ttl:
        return 0, 2**31 - 1
    return settings.cache_min_ttl, settings.cache_max_ttl


def _clamped(
    rrset: dns.rrset.RRset, in_authority: bool, lo: int, hi: int, settings: ResolverSettings
) -> dns.rrset.RRset:
    ttl = rrset.ttl
    if ttl & 0x80000000:
        ttl = 0  # RFC 2181 §8: a TTL with the top bit set means zero
    if in_authority and rrset.rdtype == dns.rdatatype.SOA:
        minimum = min(int(rd.minimum) for rd in rrset)
        ttl = min(ttl, minimum, settings.cache_max_negative_ttl)
    ttl = max(lo, min(hi, ttl))
    return with_ttl(rrset, ttl)


def with_ttl(rrset: dns.rrset.RRset, ttl: int) -> dns.rrset.RRset:
    return dns.rrset.from_rdata_list(rrset.name, ttl, list(rrset))


def aged(sections: Sections, age: float) -> Sections:
    """Every RRset's TTL decreased by ``age`` seconds (rounded so it is never inflated)."""
    return _map_ttl(sections, lambda ttl: max(0, math.floor(ttl - age)))


def fixed(sections: Sections, ttl: int) -> Sections:
    """Every RRset with the same TTL (stale answers: ``serve-expired-reply-ttl``)."""
    return _map_ttl(sections, lambda _: ttl)


def _map_ttl(sections: Sections, fn: Callable[[int], int]) -> Sections:
    def one(section: Section) -> Section:
        return tuple(with_ttl(r, fn(r.ttl)) for r in section)

    return Sections(
        sections.rcode, one(sections.answer), one(sections.authority), one(sections.additional)
    )
