"""One simulated run (one cell of a sweep, one replicate): world, resolver, clients, record.

``simulate_run`` builds the run's lab.toml exactly as a live drill does (``labgen.patch_config``
on the user's lab.toml: service TTL and TTL policy, the scenario's checks and resolver
knobs), runs the world (``lab.sim.world``), the lab resolver (``lab.sim.resolver``) and every
client (``lab.sim.clients``) and returns a ``SimRun``: per-client results, the costs, and a
``RunRecord`` like a live run's (with per-request observations when ``observations=True``).
Every typed drill event is published to the record's sinks.
"""

from __future__ import annotations

import ipaddress
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lab.config import LabConfig, parse_config
from lab.drill import events as ev
from lab.drill import model
from lab.drill.labgen import SERVICE, patch_config, service_key, to_toml
from lab.drill.measure import Windows, busiest
from lab.drill.population import Client, build_population, priming_ages, probe_addr
from lab.drill.record import RunRecord
from lab.drill.scenario import Scenario, run_duration
from lab.sim.clients import (
    ClientResult,
    Measured,
    geo_client,
    poisson_times,
    run_cached,
    run_uncached,
)
from lab.sim.resolver import ResolverRun, run_resolver
from lab.sim.world import WorldTimeline, run_world, scenario_steps
from resolver.settings import ResolverSettings

ResolverMode = Literal["shared", "per-client"]
Arrivals = Literal["periodic", "poisson"]


@dataclass(frozen=True)
class RunSpec:
    """Everything one run depends on besides the scenario."""

    ttl: int
    ttl_policy: Literal["fixed", "dynamic"] = "fixed"
    resolver_mode: ResolverMode = "shared"
    horizon: float | None = None  # None: the scenario's duration rule
    propagation: float = model.PROPAGATION_GUESS_S
    replicate: int = 0  # another draw of probe phase, start offsets and cache ages
    arrivals: Arrivals = "periodic"  # every request_interval, or Poisson with that mean gap


@dataclass
class SimRun:
    record: RunRecord
    results: list[ClientResult]
    timeline: WorldTimeline
    authoritative_queries: int = 0  # clients' direct queries + the resolver's upstream queries
    resolver_queries: int = 0  # queries clients sent to the lab resolver
    resolver_upstream: int = 0
    cut: int = 0  # bounded affected clients still stale at the horizon (censored)
    windows: Windows = field(default_factory=lambda: Windows({}, frozenset()))


def networks(cfg: LabConfig) -> dict[str, ipaddress.IPv4Network]:
    """Each location's first IPv4 network (where its drill clients get their addresses)."""
    out: dict[str, ipaddress.IPv4Network] = {}
    for name, loc in cfg.locations.items():
        v4 = [ipaddress.IPv4Network(n) for n in loc.nets if ":" not in n]
        if v4:
            out[name] = v4[0]
    return out


def run_config(
    raw: Mapping[str, Any], base_dir: Path, sc: Scenario, spec: RunSpec, source: str
) -> tuple[LabConfig, str]:
    """The run's LabConfig (as a live drill would write it) and the drill service's key."""
    data = patch_config(
        raw, base_dir, spec.ttl, sc.checks, None, resolver=sc.resolver, ttl_policy=spec.ttl_policy
    )
    cfg = parse_config(to_toml(data), source=source, base_dir=str(base_dir))
    key = service_key(data, SERVICE)
    if key is None:
        from lab.errors import ConfigError

        raise ConfigError(f"{source}: services: no service named {SERVICE} to drill")
    return cfg, key


def duration(
    sc: Scenario, spec: RunSpec, clients: Sequence[Client], res: model.ResolverTTL
) -> float:
    """The run's end: ``spec.horizon``, else the drill's rule (``scenario.run_duration``)."""
    if spec.horizon is not None:
        return spec.horizon
    return run_duration(sc, spec.ttl, list({c.profile for c in clients}), res)


def resolver_rules(settings: ResolverSettings) -> model.ResolverTTL:
    """The resolver's TTL rules for the model (resolver/answers.py clamps)."""
    from resolver.answers import ttl_clamps

    lo, hi = ttl_clamps(settings)
    return model.ResolverTTL(lo, hi, settings.serve_expired, settings.serve_expired_reply_ttl)


def simulate_run(
    sc: Scenario,
    cfg: LabConfig,
    service: str,
    spec: RunSpec,
    observations: bool = False,
    sinks: Sequence[ev.EventSink] = (),
) -> SimRun:
    nets = networks(cfg)
    seed = sc.seed + 1000003 * spec.replicate
    clients = build_population(
        sc.clients, sc.locations, sc.profiles, nets, sc.request_interval, seed
    )
    res_rules = resolver_rules(cfg.resolver)
    end = duration(sc, spec, clients, res_rules)
    record = RunRecord(
        ttl=spec.ttl, scenario=sc, clients=clients, mode="sim", end=end, resolver=res_rules
    )
    for sink in sinks:
        record.bus.subscribe(sink)
    record.start(cfg.resolver.ttl_clock)
    rng = random.Random(seed * 7919 + spec.ttl)

    def busiest_at(tl: WorldTimeline, t: float) -> str | None:
        return busiest(tl.answer(*geo_client(c), t).region for c in clients)

    steps = scenario_steps(sc.faults)
    timeline = run_world(cfg, service, steps, end, rng, spec.propagation, busiest_at)
    m = _measured(record, timeline, end)
    run = SimRun(record, [], timeline)
    groups = _resolver_groups(clients, spec.resolver_mode)
    served: dict[int, ResolverRun] = {}
    ages = priming_ages(sorted({c.location for c in clients}), spec.ttl, sc.seed)
    qname = cfg.services[service].name
    r = sc.request_interval
    for key, members in groups.items():
        offsets = sorted(c.start_offset for c in members)
        primed = -ages[members[0].location] if spec.resolver_mode == "shared" else None
        nq = (
            _next_query(offsets, r)
            if spec.arrivals == "periodic"
            else _next_poisson(r / len(members), random.Random(seed * 31 + len(served)))
        )
        rr = run_resolver(cfg.resolver, timeline, qname, members[0].addr, nq, end, primed)
        run.resolver_upstream += rr.upstream
        for c in members:
            served[c.id] = rr
        del key
    obs: list[Any] | None = [] if observations else None
    bounds = timeline.boundaries()
    for c in clients:
        times = poisson_times(c, r, end, seed) if spec.arrivals == "poisson" else None
        if c.profile.upstream == "resolver":
            rr = served[c.id]
            out = run_uncached(
                c, r, timeline, m, rng, rr.at, rr.boundaries(), "resolver", obs, times
            )
            run.resolver_queries += out.resolutions
        elif not c.profile.caches:
            client, gkey = geo_client(c)

            def source(t: float, client: Any = client, gkey: Any = gkey) -> Any:
                return timeline.answer(client, gkey, t)

            out = run_uncached(c, r, timeline, m, rng, source, bounds, "authoritative", obs, times)
            run.authoritative_queries += out.resolutions
        else:
            out = run_cached(c, r, timeline, m, rng, obs, bounds, times)
            run.authoritative_queries += out.resolutions
        run.results.append(out)
    run.authoritative_queries += run.resolver_upstream
    record.authoritative_queries = run.authoritative_queries
    affected = {o.client: o.window for o in run.results if o.window is not None}
    censored = frozenset(o.client for o in run.results if o.censored)
    run.windows = Windows(affected, censored)
    run.cut = record.cut(censored)
    if obs is not None:
        obs.sort(key=lambda o: o.t)
        for o in obs:
            record.observe(o)
    record.conclude(run.windows)
    return run


def _measured(record: RunRecord, timeline: WorldTimeline, end: float) -> Measured:
    """The fault, detection and propagation of the run, into the record (and its events)."""
    done = [(t, step, None) for t, step in timeline.applied]
    for t, step, why in sorted([*done, *timeline.failed], key=lambda x: x[0]):
        if why is not None:  # as live: the run fails, the report says so
            record.injection_failed(t, step.region, step.action, why)
            continue
        name = step.fault.fault if step.fault is not None else step.action
        lasts = getattr(step.fault, "duration", None) if step.action == "fault" else None
        record.fault_step(t, step.region, step.action, name, f"{step.action} {step.region}", lasts)
    vantage = timeline.cfg.checkers[0].name if timeline.cfg.checkers else "checker"
    for d in timeline.decisions:
        if d.at < 0:
            continue
        record.emit(ev.CheckerDecision(d.at, d.region, d.up, d.checker, d.reason))
        record.note(d.at, f"checker {d.checker}: {d.region} {'up' if d.up else 'down'}")
        if (
            d.region == record.dead_region
            and not d.up
            and d.checker == vantage
            and record.fault_at is not None
            and d.at >= record.fault_at
            and record.detected_at is None
        ):
            record.detected_at = d.at
    _answer_changes(record, timeline)
    return Measured(record.dead_region, record.fault_at, record.recovered_at, end)


def _answer_changes(record: RunRecord, timeline: WorldTimeline) -> None:
    """AnswerChanged per location (asked from its probe address, as the live probe does) and
    the propagation time: every location answered the dead region at the fault moved off it."""
    from authoritative.geo import Client as GeoClient

    nets = networks(timeline.cfg)
    moved: list[float] = []
    for loc, net in sorted(nets.items()):
        src = probe_addr(net)
        client, key = GeoClient.from_source(src), (f"probe:{src}", None)
        prev = timeline.answer(client, key, 0.0)
        at_fault = (
            timeline.answer(client, key, record.fault_at) if record.fault_at is not None else None
        )
        first_move: float | None = None
        for epoch in timeline.epochs[1:]:
            if epoch.at < 0 or epoch.at > record.end:
                continue
            now = timeline.answer(client, key, epoch.at)
            if now.addrs != prev.addrs:
                record.emit(ev.AnswerChanged(epoch.at, loc, now.addrs, (now.region,), prev.addrs))
                if (
                    at_fault is not None
                    and record.fault_at is not None
                    and at_fault.region == record.dead_region
                    and epoch.at >= record.fault_at
                    and now.region != record.dead_region
                    and first_move is None
                ):
                    first_move = epoch.at
            prev = now
        if at_fault is not None and at_fault.region == record.dead_region:
            if first_move is None:
                return  # some location kept the dead region: no propagation time
            moved.append(first_move)
    if moved and record.detected_at is not None:
        record.propagated_at = max(moved)
        record.note(record.propagated_at, f"authoritative: {record.dead_region} out of answers")


def _resolver_groups(clients: Sequence[Client], mode: ResolverMode) -> dict[object, list[Client]]:
    """Clients that share one resolver cache entry: per location's ECS scope (shared), or one
    resolver per client."""
    groups: dict[object, list[Client]] = {}
    for c in clients:
        if c.profile.upstream != "resolver":
            continue
        key: object = c.id if mode == "per-client" else c.location
        groups.setdefault(key, []).append(c)
    return groups


def _next_poisson(mean_gap: float, rng: random.Random) -> Any:
    """Next query of a group whose clients arrive as Poisson processes (merged: Poisson with
    ``mean_gap``): memoryless, so the next one after ``t`` is ``t`` plus an exponential gap."""

    def nxt(t: float) -> float:
        if t == math.inf:
            return math.inf
        return max(t, 0.0) + rng.expovariate(1.0 / mean_gap)

    return nxt


def _next_query(offsets: Sequence[float], r: float) -> Any:
    """The group's first query at or after ``t`` (its clients ask every ``r`` from their
    offsets in [0, r))."""
    import bisect

    def nxt(t: float) -> float:
        if t == math.inf:
            return math.inf
        t = max(t, 0.0)
        base = math.floor(t / r) * r
        phase = t - base
        k = bisect.bisect_left(offsets, phase - 1e-12)
        if k < len(offsets):
            return base + offsets[k]
        return base + r + offsets[0]

    return nxt
