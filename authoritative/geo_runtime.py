"""The GeoDNS shell inside ``dnslab authoritative --config``: health in, serving states out.

It holds the current config, geo map and ``HealthInputs`` (authoritative/health.py), and on
every change — a checker event, a feed going up or down, an admin override, a reload — computes
a fresh health view and swaps a new serving state into the server (one assignment; the wire
cache is dropped), so the very next answer reflects it. Nothing here blocks: callbacks run on
the event loop, pure code does the work.

Health survives restarts (docs/security.md, "Restarts"): ``restore_health`` loads the saved
view (``authoritative.health_state``, authoritative/health_store.py) before the first query,
``on_health_change`` tells the saver when to write, and ``expiry_due`` tells the server's
timer when a kept word crosses ``max_stale``.
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
    refused: Counter
    age: Gauge
    expired: Gauge

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
            Counter(
                "dnslab_authoritative_health_feed_refused",
                "Event streams refused because they did not authenticate as the checker "
                "(reason: unsigned, bad signature, no hello, wrong checker, oversized).",
                ["checker", "reason"],
                registry=registry,
            ),
            Gauge(
                "dnslab_authoritative_health_state_age_seconds",
                "Seconds since the checker's kept word was last confirmed (0 while its feed is "
                "up; -1 when there is no word of it).",
                ["checker"],
                registry=registry,
            ),
            Gauge(
                "dnslab_authoritative_health_state_expired",
                "1 when the checker's kept word is older than authoritative.max_stale.",
                ["checker"],
                registry=registry,
            ),
        )


def decision_signature(view: HealthView) -> tuple[object, ...]:
    """Everything of a health view that answers are chosen by (policies read up/down, whether
    a region was ever checked, and the probe RTTs); two views with the same signature differ
    only in when states could change, which only dynamic TTLs read."""
    return tuple(
        (name, h.up, h.forced, h.known, tuple(sorted(h.rtts.items())))
        for name, h in view.regions.items()
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
        # --workers: worker 0 hands every published input set to the other workers
        self.on_publish: Callable[[HealthInputs], None] = lambda inputs: None
        self.live: list[ServiceProvider] = []  # the providers of the state now serving
        self.signature: tuple[object, ...] = ()  # what their answers were decided on
        self.on_health_change: Callable[[], None] = lambda: None
        self.restored: str | None = None  # where the saved view came from, if it did
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
            lost = {c: t for c, t in old.lost.items() if c in checkers}
            inputs = HealthInputs(
                checkers, regions, self.started, reports, old.disconnected, forced, lost
            )
        self.cfg, self.base, self.inputs = cfg, base, inputs
        self.geomap = geomap if geomap is not None else geomap_from_config(cfg)
        self.rules = rules_of(cfg)
        for checker in checkers:  # exported from the start: 0 before the first connection
            self.metrics.feed_up.labels(checker).set(1 if self.feeds_seen.get(checker) else 0)
            self.metrics.age.labels(checker).set_function(self._age_metric(checker))
            self.metrics.expired.labels(checker).set_function(self._expired_metric(checker))
        self.publish(rebuild=True)

    # --- kept state: age, expiry, restore ---
    def age(self, checker: str) -> float | None:
        return self.inputs.age(checker, self.clock.now())

    def is_expired(self, checker: str) -> bool:
        age = self.age(checker)
        return age is not None and age > self.rules.max_stale

    def _age_metric(self, checker: str) -> Callable[[], float]:
        def value() -> float:
            age = self.age(checker)
            return -1.0 if age is None else age

        return value

    def _expired_metric(self, checker: str) -> Callable[[], float]:
        return lambda: 1.0 if self.is_expired(checker) else 0.0

    def expiry_due(self) -> float | None:
        """The next moment a kept word crosses max_stale (wall time), if any is pending."""
        now = self.clock.now()
        times = [
            at + self.rules.max_stale
            for c, at in self.inputs.lost.items()
            if c in self.inputs.disconnected and at + self.rules.max_stale >= now
        ]
        return min(times) if times else None

    def restore_health(self, saved: Mapping[str, object], where: str) -> None:
        """Adopt a saved view (health_store) — before any feed has spoken."""
        from authoritative.health_store import restore

        self.inputs = restore(self.inputs, saved, where)
        self.restored = where
        self.publish()

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
        self.on_publish(self.inputs)
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
            self.on_health_change()

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

    def feed_text(self, checker: str) -> str:
        """``feed_state`` plus where the kept word came from and how old it is (explain)."""
        seen = self.feeds_seen.get(checker)
        text = self.feed_state(checker)
        if seen is None and self.restored and self.age(checker) is not None:
            text += " (saved view restored)"
        age = self.age(checker)
        if not seen and age is not None:
            state = "EXPIRED" if self.is_expired(checker) else "kept"
            text += (
                f", last word {age:.1f}s old ({state}; max_stale {self.rules.max_stale:g}s, "
                f"on_expired {self.rules.on_expired})"
            )
        return text

    def on_status(self, checker: str, up: bool) -> None:
        self.feeds_seen[checker] = up
        self.metrics.feed_up.labels(checker).set(1 if up else 0)
        if (checker in self.inputs.disconnected) == up:
            self.inputs = self.inputs.connection(checker, up, self.clock.now())
            self.publish()
            self.on_health_change()

    def on_refused(self, checker: str, reason: str) -> None:
        self.metrics.refused.labels(checker, reason).inc()

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
