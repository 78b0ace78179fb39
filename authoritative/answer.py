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

    ``required`` marks, for each additional RRset, whether it must fit (glue of a referral:
    if it does not fit the reply is truncated) or may be dropped silently (RFC 9471).
    ``ecs_scope`` is the ECS scope prefix length to report (0 for static data).
    """

    rcode: int = NOERROR
    aa: bool = False
    answer: tuple[dns.rrset.RRset, ...] = ()
    authority: tuple[dns.rrset.RRset, ...] = ()
    additional: tuple[dns.rrset.RRset, ...] = ()
    required: tuple[bool, ...] = ()
    ecs_scope: int = 0


REFUSED_ANSWER = Answer(rcode=REFUSED)
