"""The drill's Prometheus series, built from its typed events (``lab.drill.events``).

A dead region cannot count the traffic still sent to it, so stale routing is measured from
the clients' side: ``DrillMetrics`` is an event sink that turns the drill's events into
series on a registry it is given. The same sink serves a live drill's ``/metrics``
(``lab.drill.metrics_server``) and a simulation's OpenMetrics backfill
(``lab.drill.openmetrics``), so both show the same series in the same dashboards.

Series (every one labelled ``scenario`` and ``ttl``; other labels bounded — never a client):

==============================================  =============================================
``dnslab_drill_clients``                        clients that have sent a request (location,
                                                profile)
``dnslab_drill_dead_region_clients``            clients whose latest request went to the dead
                                                region, from the fault to its recovery or the
                                                end of the run (location, profile)
``dnslab_drill_requests_total``                 client requests (region, outcome ok|failed)
``dnslab_drill_stale_window_seconds``           histogram of each affected client's window
                                                (profile), observed at its first WindowClosed
``dnslab_drill_stale_window_max_seconds``       the longest window observed so far (profile)
``dnslab_drill_stale_windows_censored_total``   windows still open when the run ended or the
                                                region recovered (their value is a lower bound)
``dnslab_drill_detection_delay_seconds``        fault → checker marks the region down (region)
``dnslab_drill_propagation_delay_seconds``      decision → authoritative answers change (region)
``dnslab_drill_fault_events_total``             fault steps that took effect (region, action)
``dnslab_drill_fault_active``                   1 while a region is faulted by the drill (region)
``dnslab_drill_run_active``                     1 while a run (one TTL) is in progress
==============================================  =============================================

Windows come only from the drill's ``WindowClosed`` events: the exporter has no window rule
of its own (the one rule is ``measure.WindowState``, which the drill runs as requests arrive).
A window is observed in the histogram when its client's first ``WindowClosed`` arrives — as
the window closes (the client's first request after the fault, before the recovery, to
another region), or at the end of the run for windows still open (``censored``: cut by the
end of the run or by the recovery). A client sent back to the dead region after its window
closed gets a revised ``WindowClosed`` at the end; a histogram cannot un-observe, so the
revision raises the max gauge and is listed in ``mismatches`` (the drill prints it) instead
of silently disagreeing with results.json. ``dead_region_clients`` follows each client's
latest ``ClientRequest`` (its ``dead`` flag, from the fault to the recovery), counting at
the fault the clients whose last request before it went to the dead region.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from lab.drill import events as ev
from regions.faults import KNOWN_FAULTS

# bucket edges (s): fine where short-TTL windows fall, coarser for long TTLs and sweeps
WINDOW_BUCKETS: tuple[float, ...] = (
    *(x / 4 for x in range(0, 9)),  # 0 .. 2 by 0.25
    *(2 + x / 2 for x in range(1, 17)),  # 2.5 .. 10 by 0.5
    *(float(x) for x in range(11, 31)),  # 11 .. 30 by 1
    *(float(x) for x in range(35, 61, 5)),  # 35 .. 60 by 5
    90.0,
    120.0,
    180.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
)
# the action label: kill, a regions/ fault name, or the recovery steps (bounded)
FAULT_ACTIONS = ("kill", *(f for f in KNOWN_FAULTS if f != "clear"), "restart", "clear")
RUN = ["scenario", "ttl"]


def bucket_width(value: float) -> float:
    """Width of the histogram bucket ``value`` falls in (the agreement bound for quantiles)."""
    lo = 0.0
    for edge in WINDOW_BUCKETS:
        if value <= edge:
            return edge - lo
        lo = edge
    return float("inf")


@dataclass
class _Run:
    scenario: str
    ttl: str
    fault_at: float | None = None
    dead: str | None = None
    recovered: bool = False
    last_region: dict[int, str] = field(default_factory=dict)
    who: dict[int, tuple[str, str]] = field(default_factory=dict)  # client -> (location, profile)
    on_dead: set[int] = field(default_factory=set)  # counted in dead_region_clients
    observed: dict[int, float] = field(default_factory=dict)  # client -> window observed
    detected_at: float | None = None
    moved_at: float | None = None  # latest answer change away from the dead region
    longest: dict[str, float] = field(default_factory=dict)  # profile -> longest window


class DrillMetrics:
    """An ``EventSink``: the drill's events in, Prometheus series out (on ``registry``)."""

    def __init__(self, registry: CollectorRegistry, regions: Iterable[str] = ()) -> None:
        p = "dnslab_drill_"
        self.regions = tuple(regions)
        self.clients = Gauge(
            p + "clients",
            "Clients of the run that have sent a request, by location and profile",
            [*RUN, "location", "profile"],
            registry=registry,
        )
        self.dead_clients = Gauge(
            p + "dead_region_clients",
            "Clients whose latest request went to the dead region (fault to recovery or run end)",
            [*RUN, "location", "profile"],
            registry=registry,
        )
        self.requests = Counter(
            p + "requests",
            "Client requests by the region they were sent to and outcome (ok, failed)",
            [*RUN, "region", "outcome"],
            registry=registry,
        )
        self.windows = Histogram(
            p + "stale_window_seconds",
            "Per-client stale-routing window (fault to the last request sent to the dead "
            "region), observed when the window closes",
            [*RUN, "profile"],
            buckets=WINDOW_BUCKETS,
            registry=registry,
        )
        self.window_max = Gauge(
            p + "stale_window_max_seconds",
            "The longest stale-routing window observed in the run so far",
            [*RUN, "profile"],
            registry=registry,
        )
        self.censored = Counter(
            p + "stale_windows_censored",
            "Windows still open when the run ended or the region recovered (lower bounds)",
            [*RUN, "profile"],
            registry=registry,
        )
        self.detection = Gauge(
            p + "detection_delay_seconds",
            "Fault injected to the checker marking the region down",
            [*RUN, "region"],
            registry=registry,
        )
        self.propagation = Gauge(
            p + "propagation_delay_seconds",
            "Checker decision to the authoritative answers no longer naming the region",
            [*RUN, "region"],
            registry=registry,
        )
        self.faults = Counter(
            p + "fault_events",
            "Fault steps that took effect, by region and action (kill, a fault name, restart, "
            "clear)",
            [*RUN, "region", "action"],
            registry=registry,
        )
        self.fault_active = Gauge(
            p + "fault_active",
            "1 while the drill keeps the region faulted",
            [*RUN, "region"],
            registry=registry,
        )
        self.run_active = Gauge(
            p + "run_active", "1 while a drill run (one TTL) is in progress", RUN, registry=registry
        )
        self.run: _Run | None = None
        self.mismatches: list[str] = []

    # -- the sink --------------------------------------------------------------------------

    def publish(self, event: ev.DrillEvent) -> None:
        if isinstance(event, ev.RunStarted):
            self._start(event)
            return
        run = self.run
        if run is None:
            return
        if isinstance(event, ev.ClientRequest):
            self._request(run, event)
        elif isinstance(event, ev.FaultInjected):
            self._fault(run, event)
        elif isinstance(event, ev.FaultCleared):
            self._cleared(run, event)
        elif isinstance(event, ev.CheckerDecision):
            self._decision(run, event)
        elif isinstance(event, ev.AnswerChanged):
            self._answer(run, event)
        elif isinstance(event, ev.WindowClosed):
            self._window(run, event)
        elif isinstance(event, ev.DelayMeasured):
            gauge = self.detection if event.what == "detection" else self.propagation
            gauge.labels(run.scenario, run.ttl, event.region).set(event.seconds)
        elif isinstance(event, ev.RunFinished):
            self._finish(run)

    # -- handlers ----------------------------------------------------------------------------

    def _start(self, e: ev.RunStarted) -> None:
        run = self.run = _Run(e.scenario, str(e.ttl))
        self.run_active.labels(run.scenario, run.ttl).set(1)
        for region in self.regions:  # so increase() sees the first fault and panels show 0
            self.fault_active.labels(run.scenario, run.ttl, region).set(0)
            for action in FAULT_ACTIONS:
                self.faults.labels(run.scenario, run.ttl, region, action)

    def _request(self, run: _Run, e: ev.ClientRequest) -> None:
        region = e.region or "none"
        self.requests.labels(run.scenario, run.ttl, region, "ok" if e.ok else "failed").inc()
        who = (e.location, e.profile)
        if e.client not in run.who:
            run.who[e.client] = who
            self.clients.labels(run.scenario, run.ttl, *who).inc()
            self.dead_clients.labels(run.scenario, run.ttl, *who)
            # every bucket exists at 0 from the run's start, so increase() counts each window
            self.windows.labels(run.scenario, run.ttl, e.profile)
            self.window_max.labels(run.scenario, run.ttl, e.profile)
            self.censored.labels(run.scenario, run.ttl, e.profile)
        run.last_region[e.client] = e.region
        if run.fault_at is not None and not run.recovered and e.at >= run.fault_at:
            self._on_dead(run, e.client, e.dead)

    def _on_dead(self, run: _Run, client: int, dead: bool) -> None:
        """Count ``client`` in ``dead_region_clients`` while its latest request is dead."""
        if dead == (client in run.on_dead):
            return
        gauge = self.dead_clients.labels(run.scenario, run.ttl, *run.who[client])
        if dead:
            run.on_dead.add(client)
            gauge.inc()
        else:
            run.on_dead.discard(client)
            gauge.dec()

    def _fault(self, run: _Run, e: ev.FaultInjected) -> None:
        action = e.fault or e.action
        self.faults.labels(run.scenario, run.ttl, e.region, action).inc()
        self.fault_active.labels(run.scenario, run.ttl, e.region).set(1)
        if run.fault_at is not None:
            return
        run.fault_at, run.dead = e.at, e.region
        for client, region in run.last_region.items():
            self._on_dead(run, client, region == e.region)

    def _cleared(self, run: _Run, e: ev.FaultCleared) -> None:
        self.faults.labels(run.scenario, run.ttl, e.region, e.action).inc()
        self.fault_active.labels(run.scenario, run.ttl, e.region).set(0)
        if e.region == run.dead and not run.recovered:
            run.recovered = True
            self._off_dead(run)

    def _decision(self, run: _Run, e: ev.CheckerDecision) -> None:
        if run.fault_at is None or e.up or e.region != run.dead or run.detected_at is not None:
            return
        if e.at < run.fault_at - 0.5:  # the same slack as the drill's own measurement
            return
        run.detected_at = e.at
        self.detection.labels(run.scenario, run.ttl, e.region).set(max(0.0, e.at - run.fault_at))
        self._propagated(run)

    def _answer(self, run: _Run, e: ev.AnswerChanged) -> None:
        """A location's answer left the dead region: propagation so far is the latest such
        change after the decision (the drill's own rule: when the last location moved)."""
        if run.fault_at is None or run.recovered or run.dead in e.regions or e.at < run.fault_at:
            return
        run.moved_at = max(run.moved_at or e.at, e.at)
        self._propagated(run)

    def _propagated(self, run: _Run) -> None:
        if run.detected_at is None or run.moved_at is None or run.dead is None:
            return  # (DelayMeasured sets the final value at the end of the run)
        delay = max(0.0, run.moved_at - run.detected_at)
        self.propagation.labels(run.scenario, run.ttl, run.dead).set(delay)

    def _window(self, run: _Run, e: ev.WindowClosed) -> None:
        """The drill closed (or, at the end, revised or cut) a client's window."""
        longest = self.window_max.labels(run.scenario, run.ttl, e.profile)
        run.longest[e.profile] = max(run.longest.get(e.profile, 0.0), e.window_s)
        longest.set(run.longest[e.profile])
        seen = run.observed.get(e.client)
        if seen is not None:  # a revision: the histogram keeps the first value
            if abs(seen - e.window_s) > 1e-6:
                self.mismatches.append(
                    f"client {e.client}: window revised from {seen:.3f}s to {e.window_s:.3f}s "
                    f"after it was observed (sent to {run.dead} again)"
                )
            return
        run.observed[e.client] = e.window_s
        self.windows.labels(run.scenario, run.ttl, e.profile).observe(e.window_s)
        if e.censored:
            self.censored.labels(run.scenario, run.ttl, e.profile).inc()

    def _off_dead(self, run: _Run) -> None:
        for client in sorted(run.on_dead):
            self._on_dead(run, client, False)

    def _finish(self, run: _Run) -> None:
        self._off_dead(run)
        for region in self.regions:
            self.fault_active.labels(run.scenario, run.ttl, region).set(0)
        self.run_active.labels(run.scenario, run.ttl).set(0)
        self.run = None
