"""The checker: region states, the event log and the live subscribers (shell around the pure
state machine; no I/O of its own — the scheduler feeds it results, the API reads it).

Times inside are monotonic (``mono``); ``to_wall`` (fixed at start) converts them to the wall
clock for the wire. Subscribers are bounded queues: one too slow to keep up is dropped (its
queue gets ``None``) and resumes with ``Last-Event-ID`` like any other disconnected client.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from healthcheck import state as S
from healthcheck.events import EventLog, RegionStatus, Snapshot, StateEvent, status_of
from healthcheck.settings import CheckSettings

QUEUE_LIMIT = 1024
Item = StateEvent | RegionStatus | None  # None: the stream must end
PROBE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class CheckerMetrics:
    probe_duration: Histogram
    probe_results: Counter
    region_up: Gauge
    transitions: Counter
    subscribers: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> CheckerMetrics:
        return cls(
            Histogram(
                "dnslab_healthcheck_probe_duration_seconds",
                "Probe duration (start to verdict), by region",
                ["checker", "region"],
                buckets=PROBE_BUCKETS,
                registry=registry,
            ),
            Counter(
                "dnslab_healthcheck_probe_results_total",
                "Probe results by region and outcome (ok, refused, timeout, status, error)",
                ["checker", "region", "outcome"],
                registry=registry,
            ),
            Gauge(
                "dnslab_healthcheck_region_up",
                "1 up, 0 down, -1 unknown (this checker's verdict)",
                ["checker", "region"],
                registry=registry,
            ),
            Counter(
                "dnslab_healthcheck_transitions_total",
                "State changes by region and new state",
                ["checker", "region", "state"],
                registry=registry,
            ),
            Gauge(
                "dnslab_healthcheck_subscribers",
                "Open /v1/events streams",
                ["checker"],
                registry=registry,
            ),
        )


def outcome_of(result: S.ProbeResult) -> str:
    if result.ok:
        return "ok"
    d = result.detail
    for key, name in (("refused", "refused"), ("timeout", "timeout"), ("status", "status")):
        if key in d:
            return name
    return "error"


STATE_VALUE = {"up": 1.0, "down": 0.0, "unknown": -1.0}


@dataclass
class Checker:
    name: str
    settings: CheckSettings
    regions: list[str]
    registry: CollectorRegistry
    mono_start: float = field(default_factory=time.monotonic)
    to_wall: float = field(default_factory=lambda: time.time() - time.monotonic())
    boot: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self.metrics = CheckerMetrics.create(self.registry)
        self.health = {r: S.initial(r, self.settings, self.mono_start) for r in self.regions}
        self.log = EventLog(self.boot, self.settings.history)
        self.subscribers: set[asyncio.Queue[Item]] = set()
        self.first_round = asyncio.Event()  # set once every region has a verdict
        self.closed = False
        for r, h in self.health.items():
            self.metrics.region_up.labels(self.name, r).set(STATE_VALUE[h.state])

    def status(self, region: str, now: float) -> RegionStatus:
        return status_of(self.health[region], self.name, self.to_wall, now)

    def snapshot(self, now: float) -> Snapshot:
        return Snapshot(
            id=self.log.last_id,
            seq=self.log.seq,
            boot=self.boot,
            checker=self.name,
            at=now + self.to_wall,
            regions=[self.status(r, now) for r in self.regions],
        )

    def record(self, region: str, result: S.ProbeResult) -> StateEvent | None:
        """Apply one probe result; publish the transition (if any) to every subscriber."""
        m = self.metrics
        m.probe_duration.labels(self.name, region).observe(result.finished - result.started)
        m.probe_results.labels(self.name, region, outcome_of(result)).inc()
        h, t = S.step(self.health[region], result, self.settings)
        self.health[region] = h
        if not self.first_round.is_set() and all(
            x.state != "unknown" for x in self.health.values()
        ):
            self.first_round.set()
        status = self.status(region, result.finished)
        if t is None:
            self._publish(status)  # no transition: next_change_at and rtt moved
            return None
        m.region_up.labels(self.name, region).set(STATE_VALUE[h.state])
        m.transitions.labels(self.name, region, h.state).inc()
        ev = self.log.append(t, status, self.to_wall)
        self._publish(ev)
        return ev

    def _publish(self, item: StateEvent | RegionStatus) -> None:
        for q in list(self.subscribers):
            try:
                q.put_nowait(item)
            except asyncio.QueueFull:
                self.drop(q)

    def subscribe(self) -> asyncio.Queue[Item]:
        q: asyncio.Queue[Item] = asyncio.Queue(QUEUE_LIMIT)
        self.subscribers.add(q)
        self.metrics.subscribers.labels(self.name).set(len(self.subscribers))
        return q

    def drop(self, q: asyncio.Queue[Item]) -> None:
        if q in self.subscribers:
            self.subscribers.discard(q)
            while not q.empty():
                q.get_nowait()
            q.put_nowait(None)  # tells the stream to end; the client resumes by id
        self.metrics.subscribers.labels(self.name).set(len(self.subscribers))

    def close(self) -> None:
        """End every stream (also those still waiting for the first round)."""
        self.closed = True
        self.first_round.set()
        for q in list(self.subscribers):
            self.drop(q)
