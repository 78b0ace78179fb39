"""The one immutable serving state and the seam for dynamic (GeoDNS) names.

The server holds a single :class:`ServingState`; a change (zone reload, health event, new
geo map) builds a new one and the server swaps it in with one assignment
(``server.swap(new_state)``), which also drops the wire cache so the very next answer
reflects it. Query code reads ``state`` once per query and never locks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import dns.name
import dns.rrset

from authoritative.request import Request
from authoritative.zone import Zone


@dataclass(frozen=True, slots=True)
class DynamicAnswer:
    """What a dynamic name answers: RRsets for the question (empty + NOERROR = NODATA with the
    zone's SOA), the ECS scope prefix length, and the rcode."""

    rrsets: tuple[dns.rrset.RRset, ...] = ()
    scope: int = 0
    rcode: int = 0  # NOERROR; e.g. SERVFAIL when every region of a service is down


class DynamicProvider(Protocol):
    """A name whose answer depends on who asks and on health (implemented by ``geo``).

    ``variant`` runs on every query for the name, before the wire cache is consulted, so it
    must be cheap (e.g. ``(location, health_epoch)``); it is part of the cache key. ``answer``
    runs only on a cache miss and must be pure: same (qname, qtype, variant) -> same answer.
    Returning None from ``answer`` falls through to the static zone data.
    """

    def variant(self, request: Request) -> Hashable: ...

    def answer(
        self, qname: dns.name.Name, qtype: int, variant: Hashable, request: Request
    ) -> DynamicAnswer | None: ...


@dataclass(frozen=True)
class ServingState:
    zones: Mapping[dns.name.Name, Zone]
    dynamic: Mapping[dns.name.Name, DynamicProvider] = field(default_factory=dict)
    epoch: int = 0
    chaos: Mapping[dns.name.Name, str] = field(default_factory=dict)  # CH TXT id.server etc.
    # derived: lowercased wire name -> provider, for the per-query check
    dynamic_wire: Mapping[bytes, DynamicProvider] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        wire = {name.canonicalize().to_wire(): p for name, p in self.dynamic.items()}
        object.__setattr__(self, "dynamic_wire", wire)

    def zone_for(self, qname: dns.name.Name) -> Zone | None:
        """The most specific loaded zone containing ``qname``."""
        labels = qname.labels
        for i in range(len(labels)):
            zone = self.zones.get(dns.name.Name(labels[i:]))
            if zone is not None:
                return zone
        return None


def chaos_names(identity: str, version: str) -> dict[dns.name.Name, str]:
    """The CH TXT names Knot DNS answers: identity for id.server/hostname.bind, version for the rest."""
    out = {}
    for text, value in (
        ("id.server.", identity),
        ("hostname.bind.", identity),
        ("version.server.", version),
        ("version.bind.", version),
    ):
        if value:
            out[dns.name.from_text(text)] = value
    return out
