"""Answer -> wire bytes, once per cache miss, with Knot's truncation rules.

Records go in RRset by RRset, in canonical order (never shuffled). If an RRset of the answer
or authority section (or glue that a referral requires) does not fit, the reply keeps what
is already in, sets TC and stops (over TCP, where nothing is truncated, the reply becomes an
empty SERVFAIL); optional additional records that do not fit are skipped.
Our OPT record, when the query carried one, is written last (space reserved for it) so an
ECS option can be appended to the cached bytes per query.
"""

from __future__ import annotations

import struct
from typing import Any

import dns.exception
import dns.name
import dns.renderer

from authoritative.answer import NO_HINT, REQUIRED, SERVFAIL, Answer

QR = 0x8000
AA = 0x0400
TC = 0x0200
OUR_PAYLOAD = 1232
OPT_FIXED = 11  # root owner + type + class + TTL + RDLENGTH
NSID_OPTION = 3
EDE_OPTION = 15
EXPIRE_OPTION = 9


def edns_option(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


def opt_record(ext_rcode: int, do: bool, options: bytes = b"") -> bytes:
    flags = 0x8000 if do else 0
    return struct.pack("!BHHBBHH", 0, 41, OUR_PAYLOAD, ext_rcode, 0, flags, len(options)) + options


def reply_options(answer: Answer, nsid: bytes | None, expire: bool = False) -> bytes:
    """The options of our OPT, in Knot's order: NSID when asked for (RFC 5001), [ECS, inserted
    per query], EXPIRE when asked for and the answer comes from a zone (RFC 7314), EDE."""
    out = b""
    if nsid is not None:
        out += edns_option(NSID_OPTION, nsid)
    if expire and answer.expire is not None:
        out += edns_option(EXPIRE_OPTION, struct.pack("!I", answer.expire))
    if answer.ede is not None:
        out += edns_option(EDE_OPTION, struct.pack("!H", answer.ede))
    return out


def render(
    answer: Answer,
    qname: dns.name.Name,
    qtype: int,
    qclass: int,
    limit: int,
    edns_do: bool | None,
    reserve: int = 0,
    nsid: bytes | None = None,
    expire: bool = False,
    tcp: bool = False,
) -> tuple[bytes, int, int]:
    """Wire bytes with ID 0 and RD clear (the caller patches them per query), where the
    RDLENGTH of our OPT record is and where an ECS option goes (after NSID, before EDE, as
    Knot orders them); both -1 without OPT.

    ``edns_do`` is None when the query had no OPT (then none is written), else its DO bit.
    ``reserve`` bytes are kept free for per-query additions (an ECS option).
    """
    flags = QR | (AA if answer.aa else 0) | (answer.rcode & 0xF)
    r: Any = dns.renderer.Renderer(id=0, flags=flags, max_size=limit)  # type: ignore[no-untyped-call]
    options = b"" if edns_do is None else reply_options(answer, nsid, expire)
    if edns_do is not None:
        r.reserve(OPT_FIXED + len(options) + reserve)
    r.add_question(qname, qtype, qclass)
    try:
        for rrset in answer.answer:
            r.add_rrset(dns.renderer.ANSWER, rrset, want_shuffle=False)
        for rrset in answer.authority:
            r.add_rrset(dns.renderer.AUTHORITY, rrset, want_shuffle=False)
        previous = None
        for rrset, flag in zip(answer.additional, answer.extra_flags, strict=True):
            if flag & NO_HINT and rrset.name != previous:
                r.compress.pop(rrset.name, None)
            previous = rrset.name
            try:
                r.add_rrset(dns.renderer.ADDITIONAL, rrset, want_shuffle=False)
            except dns.exception.TooBig:
                if flag & REQUIRED:
                    raise
    except dns.exception.TooBig:
        if tcp:  # no truncation over TCP: an answer beyond 64 KB is SERVFAIL (as Knot)
            failed = Answer(SERVFAIL, expire=answer.expire)
            return render(failed, qname, qtype, qclass, limit, edns_do, reserve, nsid, expire)
        r.flags |= TC
    r.write_header()
    wire: bytes = r.get_wire()
    if edns_do is None:
        return wire, -1, -1
    arcount = r.counts[3] + 1
    head = wire[:10] + bytes((arcount >> 8, arcount & 0xFF)) + wire[12:]
    ecs_at = len(head) + OPT_FIXED + (0 if nsid is None else 4 + len(nsid))
    return head + opt_record(answer.rcode >> 4, edns_do, options), len(head) + OPT_FIXED - 2, ecs_at
