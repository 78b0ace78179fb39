"""Builders of upstream responses for the resolver's unit tests (no sockets)."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

from resolver.core import Query, UpstreamRequest
from resolver.ecs import ClientSubnet

ZONE = "lab.example."
SOA = "ns1.lab.example. hostmaster.lab.example. 1 3600 600 86400 {minimum}"


def query(name: str = "www.lab.example.", qtype: str = "A", **kw: object) -> Query:
    return Query(dns.name.from_text(name), dns.rdatatype.from_text(qtype), 1, **kw)  # type: ignore[arg-type]


def response(
    request: UpstreamRequest,
    *answers: str,
    ttl: int = 60,
    rcode: int = dns.rcode.NOERROR,
    soa: tuple[int, int] | None = None,
    scope: int | None = None,
) -> dns.message.Message:
    """An authoritative answer; ``answers`` are rdata texts; ``soa`` = (SOA TTL, MINIMUM)."""
    q = dns.message.make_query(request.qname, request.qtype, use_edns=0)
    msg = dns.message.make_response(q)
    msg.flags |= dns.flags.AA
    msg.set_rcode(rcode)
    if answers:
        msg.answer.append(
            dns.rrset.from_text_list(request.qname, ttl, "IN", request.qtype, list(answers))
        )
    if soa is not None:
        soa_ttl, minimum = soa
        msg.authority.append(
            dns.rrset.from_text(ZONE, soa_ttl, "IN", "SOA", SOA.format(minimum=minimum))
        )
    if scope is not None and request.ecs is not None:
        sent: ClientSubnet = request.ecs
        msg.use_edns(0, options=[dns.edns.ECSOption(sent.address_text(), sent.source, scope)])
    return msg


def ttls(sections: object) -> list[int]:
    return [r.ttl for r in sections.rrsets()]  # type: ignore[attr-defined]


def rdata(sections: object) -> list[str]:
    return sorted(rd.to_text() for r in sections.answer for rd in r)  # type: ignore[attr-defined]
