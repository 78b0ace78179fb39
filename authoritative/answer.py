"""The value every answer handler returns: sections of RRsets plus the header bits that matter."""

from __future__ import annotations

from dataclasses import dataclass

import dns.rcode
import dns.rrset

NOERROR = int(dns.rcode.NOERROR)
FORMERR = int(dns.rcode.FORMERR)
SERVFAIL = int(dns.rcode.SERVFAIL)
NXDOMAIN = int(dns.rcode.NXDOMAIN)
NOTIMP = int(dns.rcode.NOTIMP)
REFUSED = int(dns.rcode.REFUSED)
YXDOMAIN = int(dns.rcode.YXDOMAIN)
NOTAUTH = int(dns.rcode.NOTAUTH)
BADVERS = 16


@dataclass(frozen=True, slots=True)
class Answer:
    """A complete answer, before rendering.

    ``extra_flags`` has, for each additional RRset, ``REQUIRED`` when it must fit (glue of a
    referral: if it does not fit the reply is truncated, RFC 9471; others are dropped silently)
    and ``NO_HINT`` when Knot would not compress its owner to the record that named it (Knot
    keeps compression hints for the first 15 records of an RRset only; this decides where a
    full additional section stops). ``ecs_scope`` is the ECS scope prefix length to report;
    ``ede`` an Extended DNS Error info-code (RFC 8914) to attach when the query had EDNS.
    """

    rcode: int = NOERROR
    aa: bool = False
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    additional: tuple[dns.rrset.RRset, ...] = ()
    extra_flags: tuple[int, ...] = ()
    ecs_scope: int = 0
    ede: int | None = None
    expire: int | None = None  # SOA EXPIRE of the answering zone, for EDNS EXPIRE (RFC 7314)


REQUIRED = 1
NO_HINT = 2
EDE_NOT_AUTHORITATIVE = 20
REFUSED_ANSWER = Answer(rcode=REFUSED, ede=EDE_NOT_AUTHORITATIVE)  # a name we do not serve
REFUSED_PLAIN = Answer(rcode=REFUSED)
