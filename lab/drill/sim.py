"""The drill on a virtual clock: same population, profiles, model and measurement, no sockets.

Discrete events in time order: client requests (every ``request_interval`` from each client's
start offset), checker probes (every ``interval`` from a random phase; ``fall`` consecutive
failures after the fault mark the region down ``probe_latency`` later), and the authoritative
answer change ``propagation`` after the decision. Shared-resolver clients share one cache per
location (the resolver's own pure cache, ``resolver.cache.Cache``, keyed by the clients' ECS /24).
Resolutions are instantaneous. The result is a ``RunRecord`` exactly like a live
run's, so ``measure``/``results``/``report`` are exercised deterministically; it is also the
seam for ``dnslab sweep`` (many clients, many settings, seconds of CPU).
"""

from __future__ import annotations

import heapq
import ipaddress
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

from lab.clock import VirtualClock
from lab.drill import events as ev
from lab.drill import model
from lab.drill.measure import Observation, busiest_region, requests
from lab.drill.population import Client, build_population
from lab.drill.profiles import Entry, Plan, plan, store
from lab.drill.record import RunRecord
from lab.drill.scenario import BUSIEST, FaultSpec, Scenario
from resolver.cache import Cache
from resolver.core import cache_policy
from resolver.ecs import ClientSubnet, scope_of
from resolver.settings import ResolverSettings

DEFAULT_NETWORKS = {
    "na": ipaddress.IPv4Network("127.1.0.0/16"),
    "eu": ipaddress.IPv4Network("127.2.0.0/16"),
    "ap": ipaddress.IPv4Network("127.3.0.0/16"),
}


class Geo(Protocol):
    def answer(self, location: str, down: frozenset[str]) -> tuple[str, ...]:
        """Addresses the authoritative server gives a client of ``location``."""
        ...

    def region_of(self, addr: str) -> str: ...


@dataclass(frozen=True)
class SimpleGeo:
    """Each location has regions in order of preference; the first region that is up wins."""

    preference: Mapping[str, Sequence[str]] = field(
        default_factory=lambda: {
            "na": ("us-east", "eu-west", "ap-south"),
            "eu": ("eu-west", "us-east", "ap-south"),
            "ap": ("ap-south", "eu-west", "us-east"),
        }
    )
    addrs: Mapping[str, str] = field(
        default_factory=lambda: {
            "us-east": "127.0.1.1",
            "eu-west": "127.0.2.1",
            "ap-south": "127.0.3.1",
        }
    )

    def answer(self, location: str, down: frozenset[str]) -> tuple[str, ...]:
        order = self.preference.get(location) or self.preference.get("default") or list(self.addrs)
        up = [r for r in order if r not in down] or list(order)
        return (self.addrs[up[0]],)

    @cached_property
    def _regions(self) -> dict[str, str]:
        return {a: r for r, a in self.addrs.items()}

    def region_of(self, addr: str) -> str:
        return self._regions.get(addr, "")


@dataclass
class _World:
    geo: Geo
    dead: str | None = None  # the region that is actually down
    decided_down: frozenset[str] = frozenset()  # what the authoritative answers by
    # the lab resolver's own pure cache (resolver.cache), keyed by ECS /24 like the live one
    resolver: Cache[tuple[str, ...]] = field(default_factory=Cache)
    primed: set[str] = field(default_factory=set)  # locations whose resolver entry was pre-aged


def simulate(
    scenario: Scenario,
    ttl: int,
    geo: Geo | None = None,
    networks: Mapping[str, ipaddress.IPv4Network] = DEFAULT_NETWORKS,
    propagation: float = model.PROPAGATION_GUESS_S,
    duration: float | None = None,
    resolver: ResolverSettings | None = None,
    sinks: Sequence[ev.EventSink] = (),
) -> RunRecord:
    """Simulate one run; ``resolver`` gives the shared resolver's cache knobs and TTL clamps."""
    clients = build_population(
        scenario.clients,
        scenario.locations,
        scenario.profiles,
        networks,
        scenario.request_interval,
        scenario.seed,
    )
    rng = random.Random(scenario.seed * 7919 + ttl)
    check = model.CheckParams(
        scenario.checks.interval, scenario.checks.fall, scenario.checks.timeout
    )
    fault = scenario.faults[0]
    latency = model.probe_latency(fault.action, fault.fault, check)
    if duration is None:
        duration = scenario.duration or model.run_duration(
            fault.at,
            list({c.profile for c in clients}),
            ttl,
            check,
            scenario.request_interval,
            scenario.tail,
            scenario.max_duration,
            resolver_ttl(resolver) if resolver is not None else None,
        )
    record = RunRecord(ttl=ttl, scenario=scenario, clients=clients, mode="sim", end=duration)
    world = _World(geo or SimpleGeo())
    if resolver is not None:
        world.resolver = Cache(cache_policy(resolver))
        record.resolver = resolver_ttl(resolver)
    for sink in sinks:
        record.bus.subscribe(sink)
    record.start(resolver.ttl_clock if resolver is not None else "")
    clock = VirtualClock()
    caches: dict[int, Entry] = {}
    # events: (time, order, kind, payload); kinds: 0 fault, 1 probe, 2 decide, 3 request
    events: list[tuple[float, int, int, int]] = []
    seq = 0

    def push(t: float, kind: int, payload: int = 0) -> None:
        nonlocal seq
        if t <= duration:
            heapq.heappush(events, (t, seq, kind, payload))
            seq += 1

    for i, step in enumerate(scenario.faults):
        push(step.at, 0, i)
    push(rng.uniform(0.0, check.interval), 1, 0)
    for c in clients:
        push(c.start_offset, 3, c.id)
    failures = successes = 0
    checker_down = False  # the checker's view of the faulted region
    while events:
        t, _, kind, payload = heapq.heappop(events)
        clock.set(t)
        if kind == 0:
            _fault_step(record, world, scenario.faults[payload], t)
        elif kind == 1:
            region = record.dead_region
            failed = region is not None and world.dead == region
            failures, successes = (failures + 1, 0) if failed else (0, successes + 1)
            flip = (not checker_down and failures == check.fall) or (
                checker_down and successes == scenario.checks.rise
            )
            if flip and region is not None:
                checker_down = not checker_down
                decided = t + (latency if checker_down else 0.0)
                if checker_down and record.detected_at is None:
                    record.detected_at = decided
                record.note(decided, f"checker: {region} {'down' if checker_down else 'up'}")
                record.emit(ev.CheckerDecision(decided, region, not checker_down, "sim"))
                push(decided + propagation, 2, int(checker_down))
            push(t + check.interval, 1)
        elif kind == 2:
            assert record.dead_region is not None
            before = {loc: world.geo.answer(loc, world.decided_down) for loc in networks}
            world.decided_down = frozenset({record.dead_region}) if payload else frozenset()
            for loc, old in before.items():
                new = world.geo.answer(loc, world.decided_down)
                if new != old:
                    regions = tuple(world.geo.region_of(a) for a in new)
                    record.emit(ev.AnswerChanged(t, loc, new, regions, old))
            if payload and record.propagated_at is None:
                record.propagated_at = t
            state = "out of" if payload else "back in"
            record.note(t, f"authoritative: {record.dead_region} {state} answers")
        else:
            _request(record, world, clients[payload], caches, clock.now())
            push(t + scenario.request_interval, 3, payload)
    record.events.sort()
    record.conclude()
    return record


def _fault_step(record: RunRecord, world: _World, step: FaultSpec, t: float) -> None:
    """Kill/fault makes a region dead; restart/clear of that region brings it back."""
    region = step.region
    if region == BUSIEST:
        region = record.dead_region or busiest_region(requests(record.observations), t) or ""
    if step.action in ("restart", "clear"):
        if region == world.dead:
            world.dead = None
            if record.recovered_at is None:
                record.recovered_at = t
        record.emit(ev.FaultCleared(t, region, step.action))
    else:
        world.dead = region
        if record.fault_at is None:
            record.fault_at, record.fault_action, record.dead_region = t, step.action, region
        record.emit(ev.FaultInjected(t, region, step.action, step.fault_name))
    record.note(t, f"{step.action} {region}")


QUESTION = ("www.lab.example.", "A", "IN")
ECS_SOURCE = 24  # the lab resolver forwards the client's /24 (resolver docs)


def _resolve(
    world: _World, client: Client, record: RunRecord, now: float
) -> tuple[tuple[str, ...], int]:
    """The answer a client gets: the authoritative's, or through the shared resolver's cache."""
    ttl = record.ttl
    if client.profile.upstream != "resolver":
        return world.geo.answer(client.location, world.decided_down), ttl
    subnet = ClientSubnet.from_text(client.addr, ECS_SOURCE)
    hit = world.resolver.get(QUESTION, subnet, now)
    if hit is not None and not hit.stale and not hit.prefetch:
        return hit.entry.payload, hit.entry.remaining(now)
    fresh = world.geo.answer(client.location, world.decided_down)
    clamped = int(record.resolver.clamp(ttl))
    # the first fill of a location is pre-aged like the live drill's resolver priming
    age = 0.0 if client.location in world.primed else client.age_fraction * clamped
    world.primed.add(client.location)
    entry = world.resolver.put(QUESTION, scope_of(subnet, ECS_SOURCE), fresh, clamped, now - age)
    if hit is not None:  # stale (serve-expired) or prefetch: this client still gets the old one
        if hit.stale:
            return hit.entry.payload, record.resolver.stale_reply_ttl
        return hit.entry.payload, hit.entry.remaining(now)
    return fresh, entry.remaining(now) if entry is not None else clamped


def resolver_ttl(settings: ResolverSettings) -> model.ResolverTTL:
    """The resolver's TTL rules (resolver/answers.py): clamps, off with serve-original-ttl."""
    lo, hi = settings.cache_min_ttl, settings.cache_max_ttl
    if settings.serve_original_ttl:
        lo, hi = 0, 2**31 - 1
    return model.ResolverTTL(lo, hi, settings.serve_expired, settings.serve_expired_reply_ttl)


def _request(
    record: RunRecord, world: _World, client: Client, caches: dict[int, Entry], now: float
) -> None:
    entry = caches.get(client.id)
    action = plan(client.profile, entry, now)
    if action is Plan.USE and entry is not None:
        addrs, how = entry.addrs, "cache"
    elif action is Plan.USE_AND_REFRESH and entry is not None:
        addrs, how = entry.addrs, "stale" if now >= entry.expires_at else "prefetch"
    else:
        addrs, how = (), "resolve"
    if action is not Plan.USE:
        fresh, ttl = _resolve(world, client, record, now)
        first = entry is None
        age = client.age_fraction * client.profile.life(ttl) if first else 0.0
        caches[client.id] = store(client.profile, fresh, ttl, now, age=age)
        record.observe(
            Observation(
                now,
                client.id,
                "resolve",
                fresh[0],
                world.geo.region_of(fresh[0]),
                ttl,
                True,
                client.profile.upstream,
            )
        )
        if not addrs:
            addrs = fresh
    used = caches[client.id] if how == "resolve" else entry
    addr = addrs[0]
    region = world.geo.region_of(addr)
    ok = region != world.dead
    record.observe(
        Observation(
            now,
            client.id,
            "request",
            addr,
            region,
            used.ttl if used is not None else None,
            ok,
            how if ok else f"{how}: connection refused",
        )
    )
