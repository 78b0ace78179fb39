"""The GeoDNS shell inside ``dnslab authoritative --config``: health in, serving states out.

It holds the current config, geo map and ``HealthInputs`` (authoritative/health.py), and on
every change — a checker event, a feed going up or down, an admin override, a reload — computes
a fresh health view and swaps a new serving state into the server (one assignment; the wire
cache is dropped), so the very next answer reflects it. Nothing here blocks: callbacks run on
the event loop, pure code does the work.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from authoritative.geo import GeoMap, geomap_from_config
from authoritative.geo_inputs import apply_statuses, observation, relevant, rules_of
from authoritative.health import HealthInputs, HealthView, compute_view
from authoritative.metrics import Tally
from authoritative.services import ServiceProvider, Services, build_state
from authoritative.state import ServingState
from healthcheck.events import RegionStatus, Snapshot, StateEvent
from lab.clock import Clock
from lab.config import LabConfig

__all__ = ["GeoRuntime", "WallClock", "observation", "relevant", "rules_of"]


class WallClock:
    """Health times come from other processes as Unix seconds, so the geo shell uses wall time
    by default; any ``lab.clock.Clock`` can be injected instead (tests, virtual time)."""

    def now(self) -> float:
        return time.time()


@dataclass
class _Metrics:
    swaps: Counter
    region_up: Gauge
    feed_up: Gauge
    forced: Gauge
    answers: Tally

    @classmethod
    def create(cls, registry: CollectorRegistry) -> _Metrics:
        return cls(
            Counter(
                "dnslab_authoritative_geo_swaps_total",
                "Serving states swapped in because health, overrides or config changed.",
                registry=registry,
            ),
            Gauge(
                "dnslab_authoritative_region_up",
                "1 if the server answers as if the region is up (quorum and overrides applied).",
                ["region"],
                registry=registry,
            ),
            Gauge(
                "dnslab_authoritative_health_feed_up",
                "1 while the event stream of a checker is connected (0: last state kept).",
                ["checker"],
                registry=registry,
            ),
            Gauge(
                "dnslab_authoritative_region_forced",
                "1 forced up, -1 forced down, 0 not forced (admin API).",
                ["region"],
                registry=registry,
            ),
            Tally(  # counted on the query path: plain integers, read at scrape time
                "dnslab_authoritative_geo_answers",
                "GeoDNS answers by service, chosen region (or servfail/nodata) and client location.",
                ["service", "region", "location"],
                registry,
            ),
        )


def decision_signature(view: HealthView) -> tuple[object, ...]:
    """Everything of a health view that answers are chosen by (policies read up/down and the
    probe RTTs); two views with the same signature differ only in when states could change,
    which only dynamic TTLs read."""
    return tuple(
        (name, h.up, h.forced, tuple(sorted(h.rtts.items()))) for name, h in view.regions.items()
    )


class GeoRuntime:
    def __init__(
        self,
        cfg: LabConfig,
        base: ServingState,
        swap: Callable[[ServingState], None],
        registry: CollectorRegistry,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or WallClock()
        self.swap_into = swap
        self.metrics = _Metrics.create(registry)
        self.epoch = base.epoch
        self.started = self.clock.now()
        self.feeds_seen: dict[str, bool] = {}
        self.on_force: Callable[[dict[str, bool]], None] = lambda forced: None
        self.live: list[ServiceProvider] = []  # the providers of the state now serving
        self.signature: tuple[object, ...] = ()  # what their answers were decided on
        self.load(cfg, base)

    def load(self, cfg: LabConfig, base: ServingState, geomap: GeoMap | None = None) -> None:
        """Adopt a (validated) config and zones; keeps reports and overrides of known names."""
        old = getattr(self, "inputs", None)
        checkers = tuple(c.name for c in cfg.checkers)
        regions = tuple(cfg.regions)
        inputs = HealthInputs(checkers, regions, self.started)
        if old is not None:
            reports = {k: v for k, v in old.reports.items() if k[0] in checkers and k[1] in regions}
            forced = {r: v for r, v in old.forced.items() if r in regions}
            inputs = HealthInputs(
                checkers, regions, self.started, reports, old.disconnected, forced
            )
        self.cfg, self.base, self.inputs = cfg, base, inputs
        self.geomap = geomap if geomap is not None else geomap_from_config(cfg)
        self.rules = rules_of(cfg)
        self.publish(rebuild=True)

    def view(self) -> HealthView:
        return compute_view(self.inputs, self.rules, self.clock.now())

    def services(self) -> Services:
        return Services(self.cfg, self.geomap, self.view())

    def publish(self, rebuild: bool = False) -> None:
        """Swap in a serving state for the current inputs. When only the times of possible
        changes moved (a probe that confirmed every state, with dynamic TTLs), the answers
        stay and the live providers just read the new times: no swap, no cache flushed."""
        services = self.services()
        signature = decision_signature(services.view)
        if not rebuild and self.live and signature == self.signature:
            for provider in self.live:
                provider.retime(services)
            return
        self.epoch += 1
        state = build_state(self.base, services, self.clock, self.epoch, self.metrics.answers)
        self.live = [p for p in state.dynamic.values() if isinstance(p, ServiceProvider)]
        self.signature = signature
        self.swap_into(state)
        self.metrics.swaps.inc()
        for name, h in services.view.regions.items():
            self.metrics.region_up.labels(name).set(1 if h.up else 0)
            forced = self.inputs.forced.get(name)
            self.metrics.forced.labels(name).set(0 if forced is None else (1 if forced[0] else -1))

    # --- health feed callbacks (one set per checker) ---
    def _apply(self, checker: str, statuses: list[RegionStatus], at: float, replace: bool) -> None:
        inputs, changed = apply_statuses(self.inputs, self.cfg, checker, statuses, at, replace)
        if changed:
            self.inputs = inputs
            self.publish()

    def on_snapshot(self, checker: str, snap: Snapshot) -> None:
        self._apply(checker, list(snap.regions), snap.at, replace=True)

    def on_event(self, checker: str, ev: StateEvent) -> None:
        self._apply(checker, [ev.status], ev.at, replace=False)

    def on_update(self, checker: str, st: RegionStatus) -> None:
        self._apply(checker, [st], self.clock.now(), replace=False)

    def feed_state(self, checker: str) -> str:
        """'up', 'down' (was up: last word kept) or 'never connected'."""
        seen = self.feeds_seen.get(checker)
        return "never connected" if seen is None else ("up" if seen else "down")

    def on_status(self, checker: str, up: bool) -> None:
        self.feeds_seen[checker] = up
        self.metrics.feed_up.labels(checker).set(1 if up else 0)
        if (checker in self.inputs.disconnected) == up:
            self.inputs = self.inputs.connection(checker, up)
            self.publish()

    def callbacks(
        self, checker: str
    ) -> tuple[
        Callable[[Snapshot], None],
        Callable[[StateEvent], None],
        Callable[[bool], None],
        Callable[[RegionStatus], None],
    ]:
        """(on_snapshot, on_event, on_status, on_update) for one checker's HealthFeed."""
        return (
            lambda s: self.on_snapshot(checker, s),
            lambda e: self.on_event(checker, e),
            lambda up: self.on_status(checker, up),
            lambda st: self.on_update(checker, st),
        )

    # --- admin ---
    def force(self, region: str, up: bool | None) -> None:
        self.inputs = self.inputs.force(region, up, self.clock.now())
        self.publish()
        self.on_force(self.forced())

    def forced(self) -> dict[str, bool]:
        return {r: up for r, (up, _) in self.inputs.forced.items()}

    def restore(self, forced: Mapping[str, bool]) -> None:
        """Make the overrides exactly ``forced`` (an admin_state file is the truth)."""
        inputs = self.inputs
        now = self.clock.now()
        for region in [r for r in inputs.forced if r not in forced]:
            inputs = inputs.force(region, None, now)
        for region, up in forced.items():
            if inputs.forced.get(region, (None, 0.0))[0] != up:
                inputs = inputs.force(region, up, now)
        self.inputs = inputs
        self.publish()
