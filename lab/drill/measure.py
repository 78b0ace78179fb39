"""From observations to metrics: stale-routing windows, failed requests, dead-region share.

Pure. An ``Observation`` is one resolution or one request of one client; times are seconds
since the run started. A client is *affected* if its last request before the fault, or any
request after it, went to the dead region; its stale-routing window is the time from the
fault to its last request sent to the dead region (0 if it never sent one after the fault).
Windows of clients still sent to the dead region at the end of the run are *censored*
(the true window is at least the value). The rule is written once, in ``WindowState``: over a
run's requests (``stale_windows``), as a live drill's requests arrive (``RunRecord.observe``
publishes ``WindowClosed``) and over the simulation's runs of requests to one answer
(``lab.sim.clients``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["resolve", "request"]


@dataclass(frozen=True, slots=True)
class Observation:
    t: float
    client: int
    kind: Kind
    addr: str  # answer's first address (resolve) or the address connected to (request)
    region: str  # region name of ``addr``; "" when it is none of the lab's regions
    ttl: int | None  # TTL of the answer used
    ok: bool
    detail: str = ""  # HTTP status, error text, or how the answer was obtained
    latency_ms: float = 0.0


@dataclass(frozen=True)
class Stats:
    n: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "n": self.n,
            "p50": round(self.p50, 4),
            "p90": round(self.p90, 4),
            "p99": round(self.p99, 4),
            "max": round(self.max, 4),
            "mean": round(self.mean, 4),
        }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest rank, ``q`` in [0, 100]: the ceil(q/100 * N)-th smallest value (the smallest
    for q = 0). Always one of the values, never an interpolation between two. It is the
    sample Prometheus's ``histogram_quantile`` ranks too (the first bucket whose cumulative
    count reaches q * N holds it), so the histogram's quantile and this one lie in the same
    bucket: they differ by at most its width."""
    if not sorted_values:
        return 0.0
    # round() drops float noise (0.07 * 100 = 7.000000000000001) before the ceiling
    rank = math.ceil(round(len(sorted_values) * q / 100.0, 9))
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


def stats(values: Iterable[float]) -> Stats:
    xs = sorted(values)
    if not xs:
        return Stats(0, 0.0, 0.0, 0.0, 0.0, 0.0)
    return Stats(
        n=len(xs),
        p50=percentile(xs, 50),
        p90=percentile(xs, 90),
        p99=percentile(xs, 99),
        max=xs[-1],
        mean=sum(xs) / len(xs),
    )


def requests(observations: Iterable[Observation]) -> list[Observation]:
    return sorted((o for o in observations if o.kind == "request"), key=lambda o: o.t)


def region_before(reqs: Sequence[Observation], at: float) -> dict[int, str]:
    """Per client, the region of its last request before ``at``."""
    last: dict[int, str] = {}
    for o in reqs:
        if o.t >= at:
            break
        last[o.client] = o.region
    return last


def busiest_region(reqs: Sequence[Observation], at: float) -> str | None:
    """The region most clients were last sent to before ``at`` (ties: alphabetical)."""
    return busiest(region_before(reqs, at).values())


def busiest(regions: Iterable[str]) -> str | None:
    """The most frequent non-empty region name (ties: alphabetical); None when there is none."""
    counts: dict[str, int] = {}
    for region in regions:
        if region:
            counts[region] = counts.get(region, 0) + 1
    if not counts:
        return None
    return min(counts, key=lambda r: (-counts[r], r))


@dataclass(frozen=True)
class Windows:
    affected: dict[int, float]  # client id -> stale-routing window (s)
    censored: frozenset[int]  # affected clients still sent to the dead region at the end


@dataclass(slots=True)
class WindowState:
    """One client's stale-window state, fed its requests in time order: the one place the
    window rule is written (``stale_windows`` over a run, and the live drill as requests
    arrive). The client is affected when its last request before the fault, or any request
    after it (and before the recovery ``until``), went to ``dead``; ``window`` is then the
    latest such request's time minus the fault's (0 for the last one before)."""

    dead: str
    window: float | None = None  # None: not affected (so far)
    region: str = ""  # region of the latest request that counts

    def feed(self, o: Observation, fault_at: float, until: float | None) -> bool:
        """Count one request; True when it closes the window as of now: it was sent after
        the fault (before the recovery) to another region by an affected client (the window
        is final unless the client is sent to the dead region again; a live drill then
        publishes the revised value)."""
        if o.t < fault_at:
            self.before(o.region)
            return False
        if until is not None and o.t >= until:
            return False
        return self.after(o.region, o.t - fault_at)

    def before(self, region: str) -> None:
        """A request before the fault (only the client's last one before it matters)."""
        self.region = region
        self.window = 0.0 if region == self.dead else None

    def after(self, region: str, since_fault: float) -> bool:
        """A request ``since_fault`` seconds after the fault, before the recovery (a caller
        that accounts a run of requests to one region passes the run's last one)."""
        self.region = region
        if region == self.dead:
            self.window = max(self.window or 0.0, since_fault)
            return False
        return self.window is not None

    @property
    def censored(self) -> bool:
        """Affected and still sent to the dead region by its latest request that counts."""
        return self.window is not None and self.region == self.dead


def stale_windows(
    reqs: Sequence[Observation], dead: str, fault_at: float, until: float | None = None
) -> Windows:
    """Windows of the clients sent to ``dead`` after ``fault_at`` and before ``until`` (the
    region's recovery: requests to it after that are no longer stale)."""
    states: dict[int, WindowState] = {}
    for o in sorted(reqs, key=lambda o: o.t):
        st = states.get(o.client)
        if st is None:
            st = states[o.client] = WindowState(dead)
        st.feed(o, fault_at, until)
    affected = {c: st.window for c, st in sorted(states.items()) if st.window is not None}
    censored = frozenset(c for c, st in states.items() if st.censored)
    return Windows(affected, censored)


def failed_after(reqs: Sequence[Observation], at: float) -> int:
    return sum(1 for o in reqs if o.t >= at and not o.ok)


@dataclass(slots=True)
class LatestRegions:
    """Per client, the region of its latest request, and how many clients each region holds:
    the one place the dead-share rule is written (``dead_share`` over a run, and the live
    page's model as requests arrive, ``lab.web.model``)."""

    latest: dict[int, str] = field(default_factory=dict)
    clients: dict[str, int] = field(default_factory=dict)  # region -> clients latest there

    def feed(self, client: int, region: str) -> None:
        old = self.latest.get(client)
        if old == region:
            return
        if old is not None:
            self.clients[old] -= 1
        self.latest[client] = region
        self.clients[region] = self.clients.get(region, 0) + 1

    def on(self, region: str | None) -> int:
        """Clients whose latest request went to ``region``."""
        return self.clients.get(region, 0) if region is not None else 0

    def share(self, region: str | None) -> float:
        """Share of the clients seen so far whose latest request went to ``region``."""
        return self.on(region) / len(self.latest) if self.latest else 0.0


def dead_share(
    reqs: Sequence[Observation], dead: str, start: float, end: float, step: float
) -> list[tuple[float, float]]:
    """Share of clients whose latest request (as of each time step) went to ``dead``."""
    latest = LatestRegions()
    out: list[tuple[float, float]] = []
    i = 0
    n_steps = max(0, math.floor((end - start) / step + 1e-9))
    for k in range(n_steps + 1):
        t = start + k * step
        while i < len(reqs) and reqs[i].t <= t:
            latest.feed(reqs[i].client, reqs[i].region)
            i += 1
        out.append((round(t, 6), latest.share(dead)))
    return out
