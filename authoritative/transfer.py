"""Zone transfers (AXFR, RFC 5936; IXFR answered as Knot 3.2 without a journal, RFC 1995).

Only for clients the ``transfer_allow`` ACL lets in; everyone else gets NOTAUTH, as Knot
answers a transfer its ACL denies (the engine decides that). Pure: zone and query in, the
reply messages out.

* AXFR over TCP: the SOA, every record of the zone file (glue and occluded data included)
  name by name in canonical order and type by type, the SOA again; as many messages of up to
  64 KB as it takes, each with the question, flags QR (+ RD echoed) as Knot sends them.
* IXFR: with no journal there are no differences to send. A client whose SOA serial (in the
  query's authority section) is not older than ours gets our SOA alone (up to date); an older
  one gets the whole zone AXFR-style over TCP (RFC 1995 §4) and our SOA alone over UDP
  ("ask again over TCP", §2). An IXFR without the client's SOA is FORMERR.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.rdatatype
import dns.renderer
import dns.rrset

from authoritative.zone import Zone

QR = 0x8000
RD = 0x0100
MAX_MESSAGE = 65535
SOA = dns.rdatatype.SOA


class BadIxfr(ValueError):
    """The IXFR carries no SOA of the zone in its authority section."""


def records(zone: Zone) -> Iterator[dns.rrset.RRset]:
    """Every record of the zone as one-record RRsets: SOA first, SOA last."""
    yield zone.soa
    for name in sorted(zone.nodes):
        for rdtype, rrset in zone.nodes[name].items():
            if name == zone.origin and rdtype == SOA:
                continue
            for rdata in rrset:
                one = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype, rrset.covers)
                one.add(rdata, rrset.ttl)
                yield one
    yield zone.soa


def _renderer(query_id: int, flags: int, qname: dns.name.Name, qtype: int) -> Any:
    r: Any = dns.renderer.Renderer(query_id, flags, MAX_MESSAGE)  # type: ignore[no-untyped-call]
    r.add_question(qname, qtype)
    return r


def messages(
    query_id: int,
    flags: int,
    qname: dns.name.Name,
    qtype: int,
    rrsets: Iterator[dns.rrset.RRset],
) -> list[bytes]:
    """The records packed into as few messages of at most 64 KB as they fit."""
    out: list[bytes] = []
    reply_flags = QR | (flags & RD)
    renderer = _renderer(query_id, reply_flags, qname, qtype)
    empty = True
    for rrset in rrsets:
        try:
            renderer.add_rrset(dns.renderer.ANSWER, rrset)
        except dns.exception.TooBig:
            renderer.write_header()
            out.append(renderer.get_wire())
            renderer = _renderer(query_id, reply_flags, qname, qtype)
            renderer.add_rrset(dns.renderer.ANSWER, rrset)
        empty = False
    if not empty or not out:
        renderer.write_header()
        out.append(renderer.get_wire())
    return out


def client_serial(query: bytes, zone: Zone) -> int:
    """The serial of the SOA an IXFR query carries for ``zone`` in its authority section."""
    try:
        msg = dns.message.from_wire(query, ignore_trailing=True)
    except dns.exception.DNSException as exc:
        raise BadIxfr(str(exc)) from None
    for rrset in msg.authority:
        if rrset.rdtype == SOA and rrset.name == zone.origin and len(rrset):
            return int(rrset[0].serial)
    raise BadIxfr("IXFR without the client's SOA in the authority section")


def newer(ours: int, theirs: int) -> bool:
    """RFC 1982 serial arithmetic: is ``ours`` later than ``theirs``?"""
    return ours != theirs and (ours - theirs) % 2**32 < 2**31


def transfer(
    query: bytes, zone: Zone, qtype: int, tcp: bool, qname: dns.name.Name | None = None
) -> list[bytes]:
    """The reply messages to an allowed AXFR (TCP) or IXFR for ``zone``; ``qname`` is the
    question as asked (its letter case is echoed)."""
    qname = qname or zone.origin
    query_id = query[0] << 8 | query[1]
    flags = query[2] << 8 | query[3]
    if qtype == dns.rdatatype.IXFR:
        serial = int(zone.soa[0].serial)
        if not newer(serial, client_serial(query, zone)) or not tcp:
            return messages(query_id, flags, qname, qtype, iter((zone.soa,)))
    return messages(query_id, flags, qname, qtype, records(zone))
