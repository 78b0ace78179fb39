"""GeoDNS services as dynamic names of the authoritative server.

``decide`` is the one pure function behind every answer, ``dnslab explain`` and the admin
explain endpoint: client → location → candidate order → first healthy → records, TTL, ECS scope.

``ServiceProvider`` implements the server's ``DynamicProvider`` seam (authoritative/state.py)
for one service at one health snapshot. Its ``variant`` is ``(outcome, chosen regions, ECS
scope, TTL)`` — exactly what the encoded answer depends on — so the server's wire cache is
shared by every client that gets the same answer, and a dynamic TTL that counts down simply
becomes a new variant. A health change builds new providers and a new serving state
(``build_state``), which the server swaps in: the next query sees it.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from authoritative.geo import Client, GeoMap, Located, parse_ip
from authoritative.health import HealthView
from authoritative.lookup import lookup
from authoritative.metrics import Tally
from authoritative.policies import Selection, select
from authoritative.request import ClientSubnet, Request
from authoritative.state import DynamicAnswer, ServingState
from authoritative.ttl import TtlDecision, answer_ttl, dynamic_ttl
from authoritative.zone import Zone
from lab.clock import Clock
from lab.config import LabConfig, Region, Service

A, AAAA, CNAME, ANY = (
    int(t) for t in (dns.rdatatype.A, dns.rdatatype.AAAA, dns.rdatatype.CNAME, 255)
)
NOERROR, SERVFAIL = 0, 2


@dataclass(frozen=True)
class Services:
    """Everything answers depend on at one health epoch (immutable)."""

    cfg: LabConfig
    geomap: GeoMap
    view: HealthView

    @property
    def vantages(self) -> dict[str, str | None]:
        return {c.name: c.location for c in self.cfg.checkers}


@dataclass(frozen=True)
class Decision:
    key: str
    service: Service
    located: Located
    selection: Selection
    scope: int
    scope_why: str
    ttl: TtlDecision
    rcode: int
    records: tuple[tuple[int, str], ...]  # (rdtype, rdata text), in answer order


def client_of(request: Request) -> Client:
    """The client a query speaks for: its ECS subnet (RFC 7871), else its source address.

    ECS with SOURCE PREFIX-LENGTH 0 means "do not use my clients' address": the source address
    decides and the reply scope is 0, as for a query without ECS.
    """
    ecs = request.ecs
    if ecs is not None and ecs.source > 0:
        net = ecs.network
        return Client(net.network_address, ecs.source, "ecs")
    return Client(parse_ip(request.client[0]), 0 if ecs is not None else None)


def records_for(
    chosen: tuple[str, ...], regions: Mapping[str, Region], qtype: int
) -> tuple[tuple[int, str], ...]:
    """The records a set of chosen regions answers ``qtype`` with (a CNAME region answers all)."""
    if not chosen:
        return ()
    first = regions[chosen[0]]
    if first.cname is not None:
        return ((CNAME, first.cname),)
    out: list[tuple[int, str]] = []
    for rdtype, attr in ((A, "v4"), (AAAA, "v6")):
        if qtype in (rdtype, ANY):
            for region in chosen:
                for addr in getattr(regions[region], attr):
                    if (rdtype, addr) not in out:
                        out.append((rdtype, addr))
    return tuple(out)


def scope_for(sel: Selection, located: Located) -> tuple[int, str]:
    """The ECS scope of an answer and why (the reply carries it only if the query had ECS)."""
    client = located.client
    if client.via == "source" and client.source_prefix == 0:
        why = "the query's ECS had SOURCE PREFIX-LENGTH 0 (RFC 7871): the answer may not depend on the client"
        return 0, why
    if sel.depends == "location" and located.scope == 0:  # one location (or none) for all
        v, loc = client.address.version, located.location
        where = f"location {loc} covers every IPv{v} address" if loc else f"no IPv{v} location"
        scope, why = 0, f"{where}: every IPv{v} client gets this answer"
    elif sel.depends == "location":
        scope, why = located.scope, "the answer depends on the client's location"
    elif sel.depends == "subnet":
        scope = 24 if client.address.version == 4 else 56
        why = f"weighted answers stick to the client's /{scope}"
    else:
        scope, why = 0, "the answer is the same for every client"
    if client.via == "source":
        why += "; sent back only in replies to ECS queries"
    return scope, why


def decide(services: Services, key: str, client: Client, qtype: int, now: float) -> Decision:
    svc = services.cfg.services[key]
    located = services.geomap.locate(client)
    sel = select(svc, located, services.view, services.vantages)
    scope, scope_why = scope_for(sel, located)
    ttl = answer_ttl(svc, sel.deciding, services.view, now)
    rcode = SERVFAIL if sel.outcome == "servfail" else NOERROR
    records = records_for(sel.chosen, services.cfg.regions, qtype)
    return Decision(key, svc, located, sel, scope, scope_why, ttl, rcode, records)


# outcome, chosen, scope, deciding, answer counter (or None)
Plan = tuple[str, tuple[str, ...], int, tuple[str, ...], Any]
MEMO_SIZE = 65536


class ServiceProvider:
    """One service at one health snapshot: the server's ``DynamicProvider``.

    The decision for a client never changes during the snapshot's life (only a dynamic TTL
    counts down), so it is memoised per (source address, ECS) in a bounded table that dies
    with the snapshot; the TTL is computed per query from the deciding regions.
    """

    def __init__(
        self,
        services: Services,
        key: str,
        clock: Clock,
        answers: Tally | None = None,
        zone: Zone | None = None,
    ) -> None:
        self.services, self.key, self.clock, self.answers = services, key, clock, answers
        self.zone = zone  # the zone holding the name: CNAME targets in it are chased
        self.service = services.cfg.services[key]
        self.name = dns.name.from_text(self.service.name)
        self._memo: dict[Hashable, Plan] = {}
        self._by_location: dict[str | None, Selection] = {}
        self._counters: dict[tuple[str, str], Any] = {}
        self._blocks: dict[tuple[int, int], Plan] = {}  # (width, block of the geo map) -> plan
        self.generation = 0  # + 1 per retime: dynamic TTLs computed before are out of date
        self._fixed: dict[tuple[int, int], tuple[Hashable, Any, float]] = {}  # fixed TTL: all of it
        # the answer depends on more than the client's block of the map
        self._per_client = self.service.policy == "weighted" or services.geomap.uses_geoip

    def plan(self, request: Request) -> Plan:
        ecs = request.ecs
        key = (request.client[0], None if ecs is None else (ecs.family, ecs.source, ecs.address))
        plan = self._memo.get(key)
        if plan is None:
            located = self.services.geomap.locate(client_of(request))
            sel = self._select(located)
            region = sel.chosen[0] if sel.chosen else sel.outcome
            counter = self._counter(region, located.location or "none")
            plan = (sel.outcome, sel.chosen, scope_for(sel, located)[0], sel.deciding, counter)
            if len(self._memo) >= MEMO_SIZE:
                self._memo = {}
            self._memo[key] = plan
        return plan

    def _counter(self, region: str, location: str) -> Any:
        if self.answers is None:
            return None
        child = self._counters.get((region, location))
        if child is None:
            child = self._counters[(region, location)] = self.answers.labels(
                self.key, region, location
            )
        return child

    def _select(self, located: Located) -> Selection:
        """``select``, shared by every client of a location unless the policy reads the subnet."""
        services = self.services
        if self.service.policy == "weighted":
            return select(self.service, located, services.view, services.vantages)
        sel = self._by_location.get(located.location)
        if sel is None:
            sel = select(self.service, located, services.view, services.vantages)
            self._by_location[located.location] = sel
        return sel

    def retime(self, services: Services) -> None:
        """Adopt a health view that chose the same answers (same up/down, same RTTs) and moved
        only the times of possible changes: dynamic TTLs read them from the next query on
        (replies kept with an earlier TTL see the new generation and are not served)."""
        self.services = services
        self.generation += 1

    def fast_variant(self, ecs: ClientSubnet | None, client: tuple[str, int]) -> Hashable | None:
        """``variant`` by the fast path (see ``fast_plan``); None where that does not apply."""
        fast = self.fast_plan(ecs, client)
        if fast is None:
            return None
        if fast[1] is not None:
            fast[1].inc()
        return fast[0]

    def fast_plan(
        self, ecs: ClientSubnet | None, client: tuple[str, int]
    ) -> tuple[Hashable, Any, float] | None:
        """(variant, answer counter, valid until) without a Request: the client's block of the
        geo map (one binary search) -> the plan of that block, shared by every client in it;
        the same variant holds until ``valid until`` (a dynamic TTL counts down; fixed: inf).
        The caller counts the answer. None when the answer needs more than the block: a
        weighted policy (per /24), a GeoIP database, or a source that is not an IP address."""
        if self._per_client:
            return None
        if ecs is not None and ecs.source > 0:
            width = 32 if ecs.family == 1 else 128
            value = int.from_bytes(ecs.address) << (width - 8 * len(ecs.address))
            key: tuple[int, int] = (width, self.services.geomap.block(width, value))
        else:
            host = client[0]
            try:
                packed = socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            except OSError:
                return None
            width = 8 * len(packed)
            # ECS /0: the source address decides, the scope is 0 (block -1 marks it)
            key = (width, self.services.geomap.block(width, int.from_bytes(packed)))
            if ecs is not None:
                key = (width, -1 - key[1])
        fixed = self._fixed.get(key)
        if fixed is not None:
            return fixed
        plan = self._blocks.get(key)
        if plan is None:
            plan = self._block_plan(key, ecs, client)
        outcome, chosen, scope, deciding, counter = plan
        svc = self.service
        if svc.ttl_policy == "fixed":
            fixed = self._fixed[key] = ((outcome, chosen, scope, svc.ttl), counter, math.inf)
            return fixed
        regions = self.services.view.regions
        nxt = min((regions[r].next_change for r in deciding), default=math.inf)
        ttl, until = dynamic_ttl(nxt, self.clock.now(), svc.ttl_min, svc.ttl_ceiling)
        return (outcome, chosen, scope, ttl), counter, until

    def _block_plan(
        self, key: tuple[int, int], ecs: ClientSubnet | None, client: tuple[str, int]
    ) -> Plan:
        """The plan of one block of the map, from its first client (every client of the block
        is located the same way, so gets the same plan)."""
        plan = self.plan(Request(None, 0, 1, "udp", client, None, ecs))
        self._blocks[key] = plan
        return plan

    def variant(self, request: Request) -> Hashable:
        outcome, chosen, scope, deciding, counter = self.plan(request)
        if counter is not None:
            counter.inc()
        svc = self.service
        if svc.ttl_policy == "fixed":
            return (outcome, chosen, scope, svc.ttl)
        regions = self.services.view.regions
        nxt = min((regions[r].next_change for r in deciding), default=math.inf)
        ttl = dynamic_ttl(nxt, self.clock.now(), svc.ttl_min, svc.ttl_ceiling)[0]
        return (outcome, chosen, scope, ttl)

    def answer(
        self, qname: dns.name.Name, qtype: int, variant: Hashable, request: Request
    ) -> DynamicAnswer | None:
        assert isinstance(variant, tuple)
        outcome: str = variant[0]
        chosen: tuple[str, ...] = variant[1]
        scope: int = variant[2]
        ttl: int = variant[3]
        if outcome == "servfail":  # every region is down and all_down = 'servfail'
            return DynamicAnswer((), scope, SERVFAIL)
        rrsets = []
        for rdtype in (CNAME, A, AAAA):
            values = [
                v for t, v in records_for(chosen, self.services.cfg.regions, qtype) if t == rdtype
            ]
            if values:
                rrsets.append(
                    dns.rrset.from_text_list(
                        qname, ttl, dns.rdataclass.IN, dns.rdatatype.RdataType(rdtype), values
                    )
                )
        if rrsets and rrsets[0].rdtype == CNAME and qtype not in (CNAME, ANY):
            rrsets.extend(self._chase(rrsets[0][0].target, qtype))
        return DynamicAnswer(tuple(rrsets), scope)

    def _chase(self, target: dns.name.Name, qtype: int) -> tuple[dns.rrset.RRset, ...]:
        """A CNAME target inside the same zone is answered too (RFC 1034 §4.3.2, as Knot does)."""
        zone = self.zone
        if zone is None or not target.is_subdomain(zone.origin):
            return ()
        found = lookup(zone, target, qtype)
        return found.answer if found.rcode == NOERROR else ()


def _zone_of(zones: Mapping[dns.name.Name, Zone], name: dns.name.Name) -> Zone | None:
    best = None
    for origin, zone in zones.items():
        if name.is_subdomain(origin) and (best is None or len(origin) > len(best.origin)):
            best = zone
    return best


def build_state(
    base: ServingState,
    services: Services,
    clock: Clock,
    epoch: int,
    answers: Tally | None = None,
) -> ServingState:
    """``base`` (zones, chaos) plus one provider per configured service.

    ``answers`` (labels service, region, location) counts answers per chosen region.
    """
    dynamic = {
        dns.name.from_text(svc.name): ServiceProvider(
            services, key, clock, answers, _zone_of(base.zones, dns.name.from_text(svc.name))
        )
        for key, svc in services.cfg.services.items()
    }
    return ServingState(base.zones, dynamic, epoch, base.chaos)
