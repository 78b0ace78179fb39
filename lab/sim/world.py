"""The lab's world on a virtual clock: regions with faults, checkers, the authoritative decision.

Pure objects of the lab, driven by a discrete-event scheduler (no sockets, no processes):

* each region: killed or not, and its ``regions.faults.FaultState`` (what a fault step does);
* each checker (``[[checkers]]``, one per vantage point) probes every region on the
  scheduler's grid (``healthcheck.state.next_start``, random phase); a probe's outcome is
  ``regions.faults.effect`` of the region at that moment with the probe timeout; the result
  goes through ``healthcheck.state.step`` (the rise/fall state machine) and out as the wire
  status the checker would send (``healthcheck.events.status_of``);
* the authoritative server folds those statuses into its ``HealthInputs``
  (``authoritative.geo_inputs.apply_statuses``: quorum, fail-static, the dynamic-TTL rule),
  ``propagation`` seconds later, and answers with ``authoritative.services.decide`` on the
  ``Services`` built from the drill's lab.toml (policies, overrides, TTL policy, ECS scope).

``run_world`` returns a ``WorldTimeline``: the authoritative epochs (when the answers could
change), every region's fault history and the checker decisions, which the client drivers
(``lab.sim.clients``) and the resolver driver (``lab.sim.resolver``) read.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from authoritative.geo import Client as GeoClient
from authoritative.geo import GeoMap, geomap_from_config
from authoritative.geo_inputs import apply_statuses, rules_of
from authoritative.health import HealthInputs, compute_view
from authoritative.services import A, Services, decide
from authoritative.ttl import answer_ttl
from healthcheck import state as hs
from healthcheck.events import status_of
from lab.config import LabConfig
from lab.drill.scenario import FaultSpec
from regions import faults as rf

REFUSED = rf.Effect(False, 0.0, "connect refused")


@dataclass(frozen=True)
class Step:
    """One fault step with its region resolved: ``kill``, ``restart``, ``fault``, ``clear``."""

    at: float
    region: str  # a region name, or "busiest" (resolved when the step happens)
    action: str
    fault: rf.FaultSpec | None = None  # action "fault" / "clear": the validated payload


@dataclass(frozen=True)
class RegionState:
    killed: bool = False
    faults: rf.FaultState = field(default_factory=rf.FaultState)

    @property
    def healthy(self) -> bool:
        return not self.killed and not self.faults.faults

    @property
    def constant(self) -> bool:
        """Whether a request's effect is the same at every moment and for every roll (no
        time- or chance-dependent fault, no fault that expires by itself)."""
        return not any(
            n in ("flap", "error-rate") or f.expires is not None
            for n, f in self.faults.faults.items()
        )

    def effect(self, now: float, kind: rf.RequestKind, timeout: float, roll: float) -> rf.Effect:
        return rf.effect(self.faults, self.killed, now, kind, timeout, roll)

    def refusal(self, step: Step) -> str | None:
        """Why ``step`` cannot take effect on this region (None: it does), as the live drill
        finds it: a killed region has no process to kill and no control API to POST to."""
        if self.killed and step.action == "kill":
            return "not running (killed by an earlier step)"
        if self.killed and step.action in ("fault", "clear"):
            return "not running (killed by an earlier step): its control API refuses the POST"
        return None

    def after(self, step: Step, now: float) -> RegionState:
        if step.action == "kill":
            return RegionState(True, self.faults)
        if step.action == "restart":  # a new process: no faults, listening again
            return RegionState(False, rf.FaultState())
        assert step.fault is not None
        return RegionState(self.killed, rf.apply(self.faults, step.fault, now))


@dataclass(frozen=True)
class Answer:
    """What the authoritative server answers one client at one moment."""

    addrs: tuple[str, ...]
    region: str  # region of the first address ("" when the answer has none)
    ttl: int
    scope: int
    rcode: int

    @property
    def ok(self) -> bool:
        return self.rcode == 0 and bool(self.addrs)


@dataclass
class Epoch:
    at: float  # from this time on the server answers from ``services``
    services: Services
    memo: dict[tuple[str, int | None], tuple[Answer, tuple[str, ...]]] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """A checker's transition (``at``: when it decided)."""

    at: float
    checker: str
    region: str
    up: bool
    reason: str


@dataclass
class WorldTimeline:
    cfg: LabConfig
    service: str  # the key of the drill's service in cfg.services
    epochs: list[Epoch]
    regions: dict[str, list[tuple[float, RegionState]]]  # region -> [(since, state)], sorted
    decisions: list[Decision]
    applied: list[tuple[float, Step]]  # the fault steps as they happened (busiest resolved)
    region_of_addr: dict[str, str]
    failed: list[tuple[float, Step, str]] = field(default_factory=list)  # steps that did not
    _epoch_at: list[float] = field(default_factory=list)
    _region_at: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._epoch_at = [e.at for e in self.epochs]
        self._region_at = {r: [t for t, _ in hist] for r, hist in self.regions.items()}

    @property
    def dynamic(self) -> bool:
        return self.cfg.services[self.service].ttl_policy == "dynamic"

    def boundaries(self) -> list[float]:
        """Every moment at which an answer or a region's behaviour can change."""
        ts = {e.at for e in self.epochs[1:]}
        for hist in self.regions.values():
            ts.update(t for t, _ in hist[1:])
        return sorted(ts)

    def epoch_index(self, now: float) -> int:
        return max(0, bisect.bisect_right(self._epoch_at, now) - 1)

    def answer(self, client: GeoClient, key: tuple[str, int | None], now: float) -> Answer:
        """The authoritative answer for ``client`` (memo ``key``: its /24 or ECS subnet) at
        ``now``: ``decide`` once per epoch and key, the dynamic TTL per call."""
        epoch = self.epochs[self.epoch_index(now)]
        hit = epoch.memo.get(key)
        if hit is None:
            d = decide(epoch.services, self.service, client, A, now)
            addrs = tuple(v for t, v in d.records if t == A)
            region = self.region_of_addr.get(addrs[0], "") if addrs else ""
            hit = (Answer(addrs, region, d.ttl.ttl, d.scope, d.rcode), d.selection.deciding)
            epoch.memo[key] = hit
        answer, deciding = hit
        if self.dynamic:
            svc = self.cfg.services[self.service]
            ttl = answer_ttl(svc, deciding, epoch.services.view, now).ttl
            if ttl != answer.ttl:
                answer = replace(answer, ttl=ttl)
        return answer

    def region_state(self, region: str, now: float) -> RegionState:
        hist = self.regions.get(region)
        if not hist:
            return RegionState()
        times = self._region_at.get(region)
        if times is None or len(times) != len(hist):
            times = self._region_at[region] = [t for t, _ in hist]
        return hist[max(0, bisect.bisect_right(times, now) - 1)][1]

    def region_history(self, region: str) -> list[tuple[float, RegionState]]:
        return self.regions.get(region) or [(-math.inf, RegionState())]


Busiest = Callable[[WorldTimeline, float], str | None]


def run_world(
    cfg: LabConfig,
    service: str,
    steps: Sequence[Step],
    end: float,
    rng: random.Random,
    propagation: float,
    busiest: Busiest,
    geomap: GeoMap | None = None,
) -> WorldTimeline:
    """Probe, decide and answer from a warmed-up lab (every region up at t = 0) until ``end``."""
    settings = cfg.checks
    timeout = settings.effective_timeout
    checkers = [c.name for c in cfg.checkers]
    regions = list(cfg.regions)
    gm = geomap if geomap is not None else geomap_from_config(cfg)
    rules = rules_of(cfg)
    warmup = settings.interval * (max(settings.fall, settings.rise) + 2) + timeout
    start = -warmup
    inputs = HealthInputs(tuple(checkers), tuple(regions), start)
    timeline = WorldTimeline(
        cfg,
        service,
        [Epoch(-math.inf, Services(cfg, gm, compute_view(inputs, rules, start)))],
        {r: [(-math.inf, RegionState())] for r in regions},
        [],
        [],
        {a: name for name, reg in cfg.regions.items() for a in (*reg.v4, *reg.v6)},
    )
    health = {(c, r): hs.initial(r, settings, start) for c in checkers for r in regions}
    # events: (time, order, kind, payload); kind 0 fault step, 1 probe start, 2 probe result
    events: list[tuple[float, int, int, object]] = []
    seq = 0

    def push(t: float, kind: int, payload: object) -> None:
        nonlocal seq
        if t <= end:
            heapq.heappush(events, (t, seq, kind, payload))
            seq += 1

    for step in steps:
        push(step.at, 0, step)
    for c in checkers:
        for r in regions:
            push(start + rng.uniform(0.0, settings.interval), 1, (c, r))
    while events:
        t, _, kind, payload = heapq.heappop(events)
        if kind == 0:
            assert isinstance(payload, Step)
            _fault(timeline, payload, t, busiest)
        elif kind == 1:
            c, r = payload  # type: ignore[misc]
            st = timeline.region_state(r, t)
            eff = st.effect(t, "health", timeout, rng.random())
            rtt = eff.latency if eff.ok else None
            result = hs.ProbeResult(eff.ok, t, t + eff.latency, eff.detail, rtt)
            push(t + eff.latency, 2, (c, r, result))
            u = rng.uniform(-1.0, 1.0)
            push(hs.next_start(t, settings.interval, settings.jitter, u), 1, (c, r))
        else:
            c, r, result = payload  # type: ignore[misc]
            h, tr = hs.step(health[(c, r)], result, settings)
            health[(c, r)] = h
            if tr is not None and tr.state != "unknown":
                timeline.decisions.append(Decision(tr.at, c, r, tr.state == "up", tr.reason))
            status = status_of(h, c, 0.0, result.finished)
            inputs, changed = apply_statuses(inputs, cfg, c, [status], result.finished, False)
            if changed:
                at = result.finished + propagation
                view = compute_view(inputs, rules, at)
                timeline.epochs.append(Epoch(at, Services(cfg, gm, view)))
    timeline.epochs.sort(key=lambda e: e.at)
    timeline.__post_init__()
    return timeline


def _fault(timeline: WorldTimeline, step: Step, t: float, busiest: Busiest) -> None:
    region = step.region
    if region == "busiest":
        region = busiest(timeline, t) or ""
        if not region:
            timeline.failed.append((t, step, "no client reached any region before it"))
            return
    hist = timeline.regions.setdefault(region, [(-math.inf, RegionState())])
    why = hist[-1][1].refusal(step)
    if why is not None:
        timeline.failed.append((t, replace(step, region=region), why))
        return
    hist.append((t, hist[-1][1].after(step, t)))
    timeline.applied.append((t, replace(step, region=region)))


def scenario_steps(faults: Sequence[FaultSpec]) -> list[Step]:
    """A scenario's fault timeline as world steps (payloads parsed as a region parses them)."""
    out: list[Step] = []
    for f in faults:
        spec: rf.FaultSpec | None = None
        if f.action in ("fault", "clear"):
            payload: dict[str, object] = (
                {"fault": "clear"} if f.action == "clear" else {"fault": f.fault, **f.params}
            )
            parsed = rf.parse_fault(payload)
            if isinstance(parsed, rf.FaultError):
                raise ValueError(f"fault step at {f.at}: {parsed.field}: {parsed.message}")
            spec = parsed
        out.append(Step(f.at, f.region, f.action, spec))
    return out
