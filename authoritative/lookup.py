"""The pure zone lookup of RFC 1034 §4.3.2, shaped to answer exactly as Knot DNS 3.2 does.

``lookup(zone, qname, qtype)`` -> :class:`~authoritative.answer.Answer`. Branches, in order,
for each name of a CNAME chain (chased only inside the same zone, loops stopped):

1. at or below a delegation point: referral (NS in authority, glue in additional, AA only if
   a CNAME was already answered) — except DS at the delegation point itself, answered from
   the parent side;
2. below a DNAME: the DNAME plus a synthesized CNAME (RFC 6672), then chase the target;
3. the name exists: its RRset of ``qtype`` (ANY: one RRset, the lowest type — RFC 8482),
   or its CNAME (then chase), or NODATA;
4. an empty non-terminal: NODATA;
5. otherwise a wildcard at the closest encloser (RFC 4592) acts as if it were the name;
6. otherwise NXDOMAIN.

NXDOMAIN and NODATA carry the SOA with TTL = min(SOA TTL, MINIMUM) (RFC 2308). A and AAAA of
in-zone NS/MX/SRV targets go to the additional section.
"""

from __future__ import annotations

import dns.name
import dns.rdatatype
import dns.rrset

from authoritative.answer import NO_HINT, NOERROR, NXDOMAIN, REQUIRED, YXDOMAIN, Answer
from authoritative.zone import Node, Zone, with_owner

CNAME = dns.rdatatype.CNAME
DNAME = dns.rdatatype.DNAME
NS = dns.rdatatype.NS
DS = dns.rdatatype.DS
ANY = dns.rdatatype.ANY
MAX_CHAIN = 20
NO_CHASE = (CNAME, ANY, dns.rdatatype.RRSIG, dns.rdatatype.NSEC)  # answered at the CNAME owner
KNOT_HINTS = 15  # compression hints Knot keeps per RRset (KNOT_COMPR_HINT_COUNT - 1)
TARGET_TYPES = {
    dns.rdatatype.NS: "target",
    dns.rdatatype.MX: "exchange",
    dns.rdatatype.SRV: "target",
}


def lookup(zone: Zone, qname: dns.name.Name, qtype: int) -> Answer:
    answer: list[dns.rrset.RRset] = []
    seen: set[dns.name.Name] = set()
    name = qname
    for _ in range(MAX_CHAIN):
        cut = zone.find_cut(name)
        if cut is not None and not (cut == name and qtype == DS):
            return referral(zone, cut, answer)
        owner = zone.find_dname(name)
        if owner is not None:
            dname = zone.nodes[owner][DNAME]
            answer.append(dname)
            try:
                target = name.relativize(owner).concatenate(dname[0].target)
            except dns.name.NameTooLong:
                return Answer(YXDOMAIN, True, tuple(answer))
            answer.append(_synth_cname(name, target, dname.ttl))
            seen.add(name)
            if not target.is_subdomain(zone.origin) or target in seen:
                return positive(zone, answer)
            name = target
            continue
        node = zone.nodes.get(name)
        if node is None:
            if name in zone.names:
                return negative(zone, NOERROR, answer)
            node = zone.wildcard_for(name)
            if node is None:
                return negative(zone, NXDOMAIN, answer)
        cname = node.get(CNAME)
        if cname is not None and qtype not in NO_CHASE:
            answer.append(with_owner(cname, name))
            seen.add(name)
            target = cname[0].target
            if not target.is_subdomain(zone.origin) or target in seen:
                return positive(zone, answer)
            name = target
            continue
        rrset = pick(node, qtype)
        if rrset is None:
            return negative(zone, NOERROR, answer)
        answer.append(with_owner(rrset, name))
        return positive(zone, answer)
    return positive(zone, answer)


def pick(node: Node, qtype: int) -> dns.rrset.RRset | None:
    if qtype == ANY:
        return next(iter(node.values()), None)  # nodes are sorted by type: one RRset (RFC 8482)
    return node.get(qtype)


def negative(zone: Zone, rcode: int, answer: list[dns.rrset.RRset]) -> Answer:
    return Answer(rcode, True, tuple(answer), (zone.negative_soa,))


def positive(zone: Zone, answer: list[dns.rrset.RRset]) -> Answer:
    extra, flags = additional(zone, answer)
    return Answer(NOERROR, True, tuple(answer), (), extra, flags)


def referral(zone: Zone, cut: dns.name.Name, answer: list[dns.rrset.RRset]) -> Answer:
    ns = zone.nodes[cut][NS]
    extra, flags = additional(zone, [ns])
    return Answer(NOERROR, bool(answer), tuple(answer), (ns,), extra, flags)


def additional(
    zone: Zone, rrsets: list[dns.rrset.RRset]
) -> tuple[tuple[dns.rrset.RRset, ...], tuple[int, ...]]:
    """A/AAAA of in-zone targets of NS, MX and SRV records, in record order, no duplicates."""
    out: list[dns.rrset.RRset] = []
    flags: list[int] = []
    done: set[dns.name.Name] = set()
    for rrset in rrsets:
        attr = TARGET_TYPES.get(rrset.rdtype)
        if attr is None:
            continue
        for index, rdata in enumerate(rrset):
            target: dns.name.Name = getattr(rdata, attr)
            if target in done:
                continue
            done.add(target)
            found = zone.addresses(target)
            flag = REQUIRED if found and zone.below_cut(target) else 0
            if index >= KNOT_HINTS:
                flag |= NO_HINT
            out.extend(found)
            flags.extend([flag] * len(found))
    return tuple(out), tuple(flags)


def _synth_cname(owner: dns.name.Name, target: dns.name.Name, ttl: int) -> dns.rrset.RRset:
    return dns.rrset.from_text_list(owner, ttl, "IN", "CNAME", [target.to_text()])
