"""What one drill run (one TTL) recorded: the same shape for live runs and simulations.

Both drivers add to a record through ``observe`` (a client's resolution or request) and
``emit`` (any other drill event); each call also publishes a typed event
(``lab.drill.events``) to the record's ``bus``, so consumers see the same events from a live
drill and a simulation. A client's ``WindowClosed`` is published by ``observe`` as soon as
its window closes (``measure.WindowState.feed``: its first request after the fault, and
before the recovery, to another region); a window that reopens (the client is sent to the dead
region again) is published again with its new value at the end, and windows that never close
during the run (pinned clients, clients still stale at the end: ``censored``) are published by
``conclude``, with the delays. The last ``WindowClosed`` of each client is its window in
``measure.stale_windows`` (results.json).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from lab.drill import events as ev
from lab.drill.measure import Observation, Windows, WindowState, requests, stale_windows
from lab.drill.model import ResolverTTL
from lab.drill.population import Client
from lab.drill.scenario import RECOVERY_ACTIONS, Scenario


@dataclass
class RunRecord:
    """Times are seconds since the client population started."""

    ttl: int
    scenario: Scenario
    clients: list[Client]
    mode: Literal["live", "sim"]
    observations: list[Observation] = field(default_factory=list)
    fault_at: float | None = None  # when the first fault was injected
    fault_action: str = ""
    dead_region: str | None = None
    recovered_at: float | None = None  # the dead region was restarted / its fault cleared
    detected_at: float | None = None  # checker marked the dead region down
    prefault_streak_s: float | None = (
        None  # the deciding failure streak began this long before the fault
    )
    propagated_at: float | None = None  # authoritative stopped answering with the dead region
    end: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)  # human-readable timeline
    notes: list[str] = field(default_factory=list)  # anything the report should warn about
    resolver: ResolverTTL = field(default_factory=ResolverTTL)  # the lab resolver's TTL rules
    ttl_clock: str = ""  # the lab resolver's TTL arithmetic (ttl-clock), set by start()
    failures: list[str] = field(default_factory=list)  # injections that did not happen
    authoritative_queries: int | None = None  # clients' + resolver upstream, no probes
    server_queries: int | None = None  # live: the server counter's rise (probes included)
    # live: the probe queries subtracted (drill, up) and how sure (no_reply, in_flight)
    probe_queries: dict[str, int | None] | None = None
    bus: ev.EventBus = field(default_factory=ev.EventBus)
    # per client, once the fault is known and someone listens: its window so far, and the
    # (window, censored) last published for it
    _windows: dict[int, WindowState] | None = field(default=None, repr=False)
    _published: dict[int, tuple[float, bool]] = field(default_factory=dict, repr=False)

    def note(self, t: float, text: str) -> None:
        self.events.append((t, text))

    @property
    def failed(self) -> bool:
        """True when a fault step could not be carried out: the numbers describe no outage."""
        return bool(self.failures)

    # -- events ------------------------------------------------------------------------------

    def emit(self, event: ev.DrillEvent) -> None:
        if self.bus.sinks:
            self.bus.publish(event)

    def observe(self, o: Observation) -> None:
        """Keep one observation and publish it as ``ClientResolved`` / ``ClientRequest``."""
        self.observations.append(o)
        if not self.bus.sinks:
            return
        c = self.clients[o.client]
        if o.kind == "resolve":
            self.bus.publish(
                ev.ClientResolved(
                    o.t, o.client, c.profile.name, c.location, o.region, o.ttl, o.ok,
                    c.profile.upstream,
                )
            )  # fmt: skip
        else:
            dead = (
                self.fault_at is not None and o.t >= self.fault_at and o.region == self.dead_region
            )
            self.bus.publish(
                ev.ClientRequest(
                    o.t, o.client, c.profile.name, c.location, o.region, o.ok, dead, o.detail
                )
            )
            if self._windows is not None:
                self._feed(o)

    def _track_windows(self) -> None:
        """The fault is known: follow each client's window from its requests so far."""
        if not self.bus.sinks or self.dead_region is None:
            return
        self._windows = {}
        for o in requests(self.observations):
            self._feed(o, publish=False)

    def _feed(self, o: Observation, publish: bool = True) -> None:
        assert self._windows is not None and self.fault_at is not None
        assert self.dead_region is not None
        st = self._windows.get(o.client)
        if st is None:
            st = self._windows[o.client] = WindowState(self.dead_region)
        if st.feed(o, self.fault_at, self.recovered_at) and publish:
            assert st.window is not None
            self._publish_window(o.client, st.window, False)

    def _publish_window(self, cid: int, window: float, censored: bool) -> None:
        last = self._published.get(cid)
        if last is not None and abs(last[0] - window) <= 1e-9 and last[1] == censored:
            return
        self._published[cid] = (window, censored)
        c = self.clients[cid]
        self.bus.publish(
            ev.WindowClosed(cid, c.profile.name, c.location, self.ttl, window, censored)
        )

    def start(self, ttl_clock: str = "") -> None:
        self.ttl_clock = ttl_clock
        self.emit(
            ev.RunStarted(
                0.0, self.ttl, self.mode, self.scenario.name, len(self.clients), self.end, ttl_clock
            )
        )

    def fault_step(
        self,
        t: float,
        region: str,
        action: str,
        fault: str,
        detail: str,
        lasts: float | None = None,
    ) -> None:
        """A fault step took effect at ``t`` (both drivers): the first kill/fault is the
        measured fault; a restart/clear of that region, or the end of the fault's own
        ``duration`` (``lasts``), is its recovery: requests after it are no longer stale."""
        recovers = action in RECOVERY_ACTIONS
        earlier = self.recovered_at is None or t < self.recovered_at
        if recovers and region == self.dead_region and earlier:
            self.recovered_at = t
        if self.fault_at is None and not recovers:
            self.fault_at, self.fault_action, self.dead_region = t, action, region
            if lasts is not None:
                self.recovered_at = t + lasts
            self._track_windows()
        self.note(t, detail)
        if recovers:
            self.emit(ev.FaultCleared(t, region, action, detail))
        else:
            self.emit(ev.FaultInjected(t, region, action, fault, detail))

    def cut(self, censored: frozenset[int]) -> int:
        """How many censored clients have a bounded window (a pinned client's never ends): each
        was cut by the end of the run, so its window is only a lower bound."""
        return sum(1 for c in censored if math.isfinite(self.clients[c].profile.life(self.ttl)))

    def cut_note(self, n: int) -> str:
        return (
            f"CUT: {n} clients with a bounded window were still sent to {self.dead_region} when "
            f"the run ended at {self.end:g}s: their windows are lower bounds (give a longer "
            "duration: --duration, or the scenario's duration / max_duration)"
        )

    def injection_failed(self, t: float, region: str, action: str, detail: str) -> None:
        """A fault step did not happen: the run fails, the report says so."""
        self.failures.append(f"at {t:.2f}s: {action} {region} failed: {detail}")
        self.note(t, f"{action} {region} FAILED: {detail}")
        self.emit(ev.InjectionFailed(t, region, action, detail))

    def conclude(self, windows: Windows | None = None) -> None:
        """Publish the stale windows not published yet or changed since (measured from the
        observations unless given) and the delays of this run, then ``RunFinished``."""
        if not self.bus.sinks:
            return
        if self.fault_at is not None and self.dead_region is not None:
            w = windows or stale_windows(
                requests(self.observations), self.dead_region, self.fault_at, self.recovered_at
            )
            for cid, window in sorted(w.affected.items()):
                self._publish_window(cid, window, cid in w.censored)
            if self.detected_at is not None:
                self.bus.publish(
                    ev.DelayMeasured(
                        "detection", self.detected_at - self.fault_at, self.dead_region, self.ttl
                    )
                )
                if self.propagated_at is not None:
                    prop = max(0.0, self.propagated_at - self.detected_at)
                    self.bus.publish(
                        ev.DelayMeasured("propagation", prop, self.dead_region, self.ttl)
                    )
        self.bus.publish(ev.RunFinished(self.end, self.ttl, self.mode, self.failed))
