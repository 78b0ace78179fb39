"""One loaded zone as an immutable value: nodes, empty non-terminals, delegations.

Built once by :mod:`authoritative.zonefile`; the answer code only reads it. Names are
``dns.name.Name`` (hashing and equality are case-insensitive, as DNS matching is).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import dns.name
import dns.rdatatype
import dns.rrset

Node = Mapping[int, dns.rrset.RRset]  # rdtype -> RRset, in ascending type order

WILDCARD = b"*"


@dataclass(frozen=True, slots=True)
class Zone:
    origin: dns.name.Name
    nodes: Mapping[dns.name.Name, Node]
    names: frozenset[dns.name.Name]  # every existing name: nodes and empty non-terminals
    cuts: frozenset[dns.name.Name]  # delegation points (NS below the apex)
    dnames: frozenset[dns.name.Name]  # owners of DNAME records
    soa: dns.rrset.RRset
    negative_soa: dns.rrset.RRset  # the SOA with TTL = min(SOA TTL, MINIMUM) (RFC 2308 §5)
    source: str = ""
    records: int = 0

    def find_cut(self, name: dns.name.Name) -> dns.name.Name | None:
        """The highest delegation point at or above ``name`` (never the apex), if any."""
        if not self.cuts:
            return None
        depth = len(self.origin.labels)
        for i in range(len(name.labels) - depth - 1, -1, -1):
            candidate = dns.name.Name(name.labels[i:])
            if candidate in self.cuts:
                return candidate
        return None

    def find_dname(self, name: dns.name.Name) -> dns.name.Name | None:
        """The highest DNAME owner strictly above ``name`` (the apex included), if any."""
        if not self.dnames:
            return None
        depth = len(self.origin.labels)
        for i in range(len(name.labels) - depth, 0, -1):
            candidate = dns.name.Name(name.labels[i:])
            if candidate in self.dnames:
                return candidate
        return None

    def closest_encloser(self, name: dns.name.Name) -> dns.name.Name:
        """The longest existing ancestor of ``name`` (``name`` itself must not exist)."""
        candidate = name.parent()
        while candidate not in self.names and candidate != self.origin:
            candidate = candidate.parent()
        return candidate

    def wildcard_for(self, name: dns.name.Name) -> Node | None:
        """The wildcard node that synthesizes ``name`` (RFC 4592 §3.3.1), if any."""
        source = dns.name.Name((WILDCARD, *self.closest_encloser(name).labels))
        return self.nodes.get(source)

    def addresses(self, target: dns.name.Name) -> tuple[dns.rrset.RRset, ...]:
        """A and AAAA RRsets for an additional-section target (glue included), owner = target."""
        if not target.is_subdomain(self.origin):
            return ()
        node = self.nodes.get(target)
        if node is None:
            if target in self.names:
                return ()
            node = self.wildcard_for(target)
            if node is None:
                return ()
        out = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            rrset = node.get(rdtype)
            if rrset is not None:
                out.append(with_owner(rrset, target))
        return tuple(out)

    def below_cut(self, name: dns.name.Name) -> bool:
        cut = self.find_cut(name)
        return cut is not None and cut != name


def with_owner(rrset: dns.rrset.RRset, owner: dns.name.Name) -> dns.rrset.RRset:
    """``rrset`` under another owner name (wildcard synthesis, or the query's spelling)."""
    if rrset.name == owner:
        return rrset
    out = dns.rrset.RRset(owner, rrset.rdclass, rrset.rdtype, rrset.covers)
    out.update_ttl(rrset.ttl)
    for rdata in rrset:
        out.add(rdata)
    return out
