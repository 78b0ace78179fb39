"""Answer -> wire bytes, once per cache miss, with Knot's truncation rules.

Records go in RRset by RRset. If an RRset of the answer or authority section (or glue that a
referral requires) does not fit, the reply keeps what is already in, sets TC and stops;
optional additional records that do not fit are skipped. Our OPT record, when the query
carried one, is written last (space reserved for it) so that an ECS option can be appended
to the cached bytes per query.
"""

from __future__ import annotations

import struct
from typing import Any

import dns.exception
import dns.name
import dns.renderer

from authoritative.answer import Answer

QR = 0x8000
AA = 0x0400
TC = 0x0200
OUR_PAYLOAD = 1232
OPT_FIXED = 11  # root owner + type + class + TTL + RDLENGTH


def opt_record(ext_rcode: int, do: bool) -> bytes:
    return struct.pack("!BHHBBHH", 0, 41, OUR_PAYLOAD, ext_rcode, 0, 0x8000 if do else 0, 0)


def render(
    answer: Answer,
    qname: dns.name.Name,
    qtype: int,
    qclass: int,
    limit: int,
    edns_do: bool | None,
    reserve: int = 0,
) -> bytes:
    """Wire bytes with ID 0 and RD/CD clear (the caller patches them per query).

    ``edns_do`` is None when the query had no OPT (then none is written), else its DO bit.
    ``reserve`` bytes are kept free for per-query additions (an ECS option).
    """
    flags = QR | (AA if answer.aa else 0) | (answer.rcode & 0xF)
    r: Any = dns.renderer.Renderer(id=0, flags=flags, max_size=limit)  # type: ignore[no-untyped-call]
    if edns_do is not None:
        r.reserve(OPT_FIXED + reserve)
    r.add_question(qname, qtype, qclass)
    truncated = False
    try:
        for rrset in answer.answer:
            r.add_rrset(dns.renderer.ANSWER, rrset)
        for rrset in answer.authority:
            r.add_rrset(dns.renderer.AUTHORITY, rrset)
        for rrset, required in zip(answer.additional, answer.required, strict=True):
            try:
                r.add_rrset(dns.renderer.ADDITIONAL, rrset)
            except dns.exception.TooBig:
                if required:
                    raise
    except dns.exception.TooBig:
        truncated = True
    if truncated:
        r.flags |= TC
    r.write_header()
    wire: bytes = r.get_wire()
    if edns_do is None:
        return wire
    arcount = r.counts[3] + 1
    return (
        wire[:10]
        + bytes((arcount >> 8, arcount & 0xFF))
        + wire[12:]
        + opt_record(answer.rcode >> 4, edns_do)
    )
