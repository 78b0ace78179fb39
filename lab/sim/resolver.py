"""The lab resolver on a virtual clock: the real ``resolver.core.ResolverCore`` with its settings.

A group of clients shares one resolver cache entry (the shared resolver: every client whose
ECS subnet the cached scope covers; a per-client resolver: one client). The group's queries
arrive on its clients' request grid. The served answer can only change when the core is
asked after its entry expired (or entered the prefetch window), so the driver asks the core
at exactly those moments — the first query of the group at or after them — and answers its
upstream requests with the authoritative decision of that moment, as a DNS message with the
answer's ECS scope, so the core applies its own clamps, scope, serve-expired and prefetch.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import dns.edns
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from authoritative.geo import Client as GeoClient
from lab.sim.world import Answer, WorldTimeline
from resolver.core import NeedUpstream, Query, Reply, ResolverCore, UpstreamRequest
from resolver.settings import ResolverSettings

RESOLVER_SOURCE = "127.0.0.1"  # the resolver's own address, as the authoritative server sees it


@dataclass
class Served:
    """What the group's clients get from the resolver from ``at`` on."""

    at: float
    answer: Answer  # ``ttl`` is the TTL the clients see at ``at``


@dataclass
class ResolverRun:
    served: list[Served] = field(default_factory=list)
    upstream: int = 0  # queries the resolver sent to the authoritative server

    def at(self, now: float) -> Answer:
        i = bisect.bisect_right([s.at for s in self.served], now) - 1
        return self.served[max(0, i)].answer

    def boundaries(self) -> list[float]:
        return [s.at for s in self.served[1:]]


def _response(request: UpstreamRequest, ans: Answer) -> dns.message.Message:
    options: list[dns.edns.Option] = []
    if request.ecs is not None:
        ecs = request.ecs
        options.append(dns.edns.ECSOption(ecs.address_text(), ecs.source, ans.scope))
    rdtype = dns.rdatatype.RdataType(request.qtype)
    q = dns.message.make_query(request.qname, rdtype, use_edns=0, options=options)
    resp = dns.message.make_response(q)
    resp.set_rcode(dns.rcode.Rcode(ans.rcode))
    resp.use_edns(0, options=options)
    if ans.addrs:
        resp.answer.append(
            dns.rrset.from_text_list(
                request.qname, ans.ttl, dns.rdataclass.IN, dns.rdatatype.A, list(ans.addrs)
            )
        )
    return resp


def _served(reply: Reply, timeline: WorldTimeline) -> Answer:
    addrs = tuple(
        str(rd)
        for rrset in reply.sections.answer
        if rrset.rdtype == dns.rdatatype.A
        for rd in rrset
    )
    ttl = min((rrset.ttl for rrset in reply.sections.answer), default=0)
    region = timeline.region_of_addr.get(addrs[0], "") if addrs else ""
    return Answer(addrs, region, int(ttl), reply.scope.prefix, reply.rcode)


def run_resolver(
    settings: ResolverSettings,
    timeline: WorldTimeline,
    qname: str,
    client_addr: str,
    next_query: Callable[[float], float],
    end: float,
    primed_at: float | None,
    core: ResolverCore | None = None,
) -> ResolverRun:
    """The answers one group of clients gets until ``end``. ``next_query(t)``: the group's
    first query at or after ``t`` (``inf``: none); ``primed_at``: a fill before the clients
    started (the drill's priming), or None."""
    core = core or ResolverCore(settings)
    name = dns.name.from_text(qname)
    query = Query(name, 1, 1, client_addr)
    run = ResolverRun()

    def upstream(request: UpstreamRequest, now: float) -> Reply:
        run.upstream += 1
        ecs = request.ecs
        if ecs is not None:
            text = ecs.address_text()
            client = GeoClient.from_ecs(text, ecs.source)
            key: tuple[str, int | None] = (text, ecs.source)
        else:
            client, key = GeoClient.from_source(RESOLVER_SOURCE), (RESOLVER_SOURCE, None)
        ans = timeline.answer(client, key, now)
        return core.on_upstream(request, _response(request, ans), now)

    def ask(now: float) -> tuple[Reply, bool]:
        step = core.lookup(query, now)
        if isinstance(step, NeedUpstream):
            return upstream(step.request, now), False
        if step.refresh is not None:  # prefetch or refresh after stale: instant upstream
            upstream(step.refresh, now)
            return step, True
        return step, False

    t = primed_at if primed_at is not None else next_query(0.0)
    while t < end:
        reply, refreshed = ask(t)
        got = _served(reply, timeline)
        if not run.served or run.served[-1].answer.addrs != got.addrs or not got.ok:
            run.served.append(Served(max(t, 0.0), got))
        after = math.nextafter(t, math.inf) if refreshed else _next_change(core, query, t)
        nxt = next_query(after)
        if nxt <= t:  # the same query again (float rounding of the grid): take the next one
            nxt = next_query(t + 1e-9 * max(1.0, abs(t)))
        t = nxt
    if not run.served:
        run.served.append(Served(0.0, Answer((), "", 0, 0, 2)))
    return run


def _next_change(core: ResolverCore, query: Query, now: float) -> float:
    """The first moment after ``now`` at which the core would answer differently: its entry
    expires (or leaves serve-expired), or enters the prefetch window (bisected on the cache's
    own ``wants_prefetch``)."""
    subnet = core.upstream_subnet(query)
    hit = core.cache.get(query.question, subnet, now)
    if hit is None:
        return math.nextafter(now, math.inf)
    entry = hit.entry
    expires = entry.expires_at
    if hit.stale or expires <= now:
        return math.nextafter(now, math.inf)
    policy = core.cache.policy
    if policy.prefetch and not policy.wants_prefetch(entry, now):
        lo, hi = now, expires
        if policy.wants_prefetch(entry, math.nextafter(hi, -math.inf)):
            for _ in range(60):
                mid = (lo + hi) / 2
                if policy.wants_prefetch(entry, mid):
                    hi = mid
                else:
                    lo = mid
            return hi
    return expires
