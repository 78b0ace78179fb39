"""The answer pipeline: small pure handlers in one visible order (CoreDNS style).

Each handler takes (state, request, variant) and returns an Answer, or None to pass the
query on to the next. The pipeline runs only on a wire-cache miss.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import replace

import dns.rdataclass
import dns.rdatatype
import dns.rrset

from authoritative.answer import NOERROR, REFUSED_ANSWER, REFUSED_PLAIN, Answer
from authoritative.lookup import additional, lookup
from authoritative.request import Request
from authoritative.state import ServingState

Handler = Callable[[ServingState, Request, Hashable], Answer | None]

IN = dns.rdataclass.IN
CH = dns.rdataclass.CH
ANY_CLASS = dns.rdataclass.ANY
DS = dns.rdatatype.DS


def chaos(state: ServingState, request: Request, variant: Hashable) -> Answer | None:
    """CH TXT id.server / hostname.bind / version.server / version.bind, as Knot answers them."""
    if request.qclass != CH:
        return None
    text = state.chaos.get(request.qname)
    if text is None or request.qtype != dns.rdatatype.TXT:
        return REFUSED_PLAIN
    txt = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    rrset = dns.rrset.from_text(request.qname, 0, CH, dns.rdatatype.TXT, txt)
    return Answer(NOERROR, False, (rrset,))


def other_classes(state: ServingState, request: Request, variant: Hashable) -> Answer | None:
    """Only IN (and class ANY, answered from IN data) are served; everything else is REFUSED."""
    return None if request.qclass in (IN, ANY_CLASS) else REFUSED_PLAIN


def dynamic(state: ServingState, request: Request, variant: Hashable) -> Answer | None:
    """Names served by a DynamicProvider (GeoDNS services); NODATA carries the zone's SOA."""
    provider = state.dynamic.get(request.qname)
    if provider is None:
        return None
    zone = state.zone_for(request.qname)
    found = provider.answer(request.qname, request.qtype, variant, request)
    if found is None or zone is None:
        return None
    expire = zone.soa[0].expire
    if not found.rrsets:
        authority = (zone.negative_soa,) if found.rcode == NOERROR else ()
        return Answer(found.rcode, True, (), authority, ecs_scope=found.scope, expire=expire)
    extra, flags = additional(zone, list(found.rrsets))
    return Answer(found.rcode, True, found.rrsets, (), extra, flags, found.scope, expire=expire)


def zones(state: ServingState, request: Request, variant: Hashable) -> Answer | None:
    """Static zone data from the most specific zone holding the name."""
    zone = state.zone_for(request.qname)
    if zone is None:
        return None
    if request.qtype == DS and zone.origin == request.qname and len(zone.origin) > 1:
        parent = state.zone_for(zone.origin.parent())  # DS lives in the parent (RFC 4035 §3.1.4.1)
        zone = parent or zone
    return replace(lookup(zone, request.qname, request.qtype), expire=zone.soa[0].expire)


def refused(state: ServingState, request: Request, variant: Hashable) -> Answer | None:
    """Not ours: REFUSED (no recursion)."""
    return REFUSED_ANSWER


PIPELINE: tuple[Handler, ...] = (chaos, other_classes, dynamic, zones, refused)


def run(
    state: ServingState,
    request: Request,
    variant: Hashable,
    pipeline: tuple[Handler, ...] = PIPELINE,
) -> Answer:
    for handler in pipeline:
        answer = handler(state, request, variant)
        if answer is not None:
            return answer
    return REFUSED_ANSWER
