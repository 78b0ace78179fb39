"""Drill clients on a virtual clock: the client profiles' own rules, requests in bulk.

A client makes a request every ``request_interval`` from its start offset (request ``n`` at
``s + n·r``; ``stepper.Schedule``). A cached client is the drill's one ``ClientStepper``
(``lab.drill.stepper``, the same one the live driver moves), asked only at its decision
points: the first request at or after ``until()`` (expiry or prefetch window), where it says
whether that request waits for a new answer (``RESOLVE``) or still uses the old one while
refreshing (``REFRESH``). Answers land at the request's instant (no DNS latency on this
clock) and the grid never slips. Between two decisions every request goes to the same
address, so requests are accounted as index ranges, never one by one (unless
``observations`` are wanted). While the authoritative answer cannot change (between two
``WorldTimeline.boundaries``) a fixed-TTL client's decisions repeat with one period and whole
cycles are skipped over arithmetically. What a request to a region experiences comes from
``regions.faults.effect`` (a killed region refuses, a hanging one times out, ...).

Clients without a cache of their own (``direct``, ``shared-resolver``) resolve on every
request (the stepper's rule for them: every request is a ``RESOLVE``); their answer only changes at the boundaries of their source (the authoritative
timeline, or the resolver's served answers), so they too are accounted per range.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from authoritative.geo import Client as GeoClient
from lab.drill.measure import Observation, WindowState
from lab.drill.population import Client
from lab.drill.profiles import HTTP_TIMEOUT_S
from lab.drill.stepper import Act, ClientStepper, Schedule
from lab.sim.world import Answer, WorldTimeline


@dataclass(frozen=True)
class Measured:
    """What the drill measures for one run (the faulted region and when)."""

    dead: str | None
    fault_at: float | None
    until: float | None  # the dead region recovered (requests after it are not stale)
    end: float  # requests at t < end


@dataclass
class ClientResult:
    client: int
    requests: int = 0
    resolutions: int = 0  # DNS queries the client sent (authoritative or resolver)
    failed: int = 0  # failed requests at or after the fault
    window: float | None = None  # None: not affected
    censored: bool = False


Source = Callable[[float], Answer]


@dataclass
class _Acc:
    """Accounts requests ``[a, b)`` of one client to one answer."""

    c: Client
    timeline: WorldTimeline
    m: Measured
    rng: random.Random
    observations: list[Observation] | None
    res: ClientResult
    n: int = 0
    i_fault: int = 0
    i_last: int = -1
    bounds: list[float] = field(default_factory=list)
    sched: Schedule = field(default_factory=lambda: Schedule(0.0, 1.0))  # the request times
    win: WindowState = field(default_factory=lambda: WindowState(""))  # the drill's rule

    def t(self, i: int) -> float:
        return self.sched.t(i)

    def idx(self, t: float) -> int:
        """The first request index at or after ``t`` (``stepper.NEVER`` for ``inf``)."""
        return self.sched.idx(t)

    def use(self, ans: Answer, a: int, b: int, how: str, ttl: int | None = None) -> None:
        b = min(b, self.n)
        if a >= b:
            return
        res, m, region = self.res, self.m, ans.region
        res.requests += b - a
        if m.fault_at is not None and m.dead is not None:
            # the requests of [a, b) that count for the window: the last before the fault,
            # and the last after it (before the recovery); the rule is measure.WindowState's
            if a <= self.i_fault - 1 < b:
                self.win.before(region)
            hi = min(b, self.i_last + 1)
            if max(a, self.i_fault) < hi:
                self.win.after(region, self.t(hi - 1) - m.fault_at)
        self._effects(ans, a, b, how, ttl)

    def _effects(self, ans: Answer, a: int, b: int, how: str, ttl: int | None) -> None:
        """Failed requests (and observations) of ``[a, b)`` from the region's fault history."""
        hist = self.timeline.region_history(ans.region) if ans.region else []
        obs = self.observations
        if obs is None and len(hist) == 1 and hist[0][1].healthy:
            return  # a region that never had a fault: every request succeeds
        for k, (since, st) in enumerate(hist):
            nxt = hist[k + 1][0] if k + 1 < len(hist) else math.inf
            lo, hi = max(a, self.idx(since)), min(b, self.idx(nxt))
            if lo >= hi:
                continue
            if obs is None and st.constant:
                eff = st.effect(self.t(lo), "traffic", HTTP_TIMEOUT_S, 0.0)
                if not eff.ok:
                    self.res.failed += max(0, hi - max(lo, self.i_fault))
                continue
            for i in range(lo, hi):
                t = self.t(i)
                eff = st.effect(t, "traffic", HTTP_TIMEOUT_S, self.rng.random())
                if not eff.ok and i >= self.i_fault:
                    self.res.failed += 1
                if obs is not None:
                    what = how if i == a else "cache"
                    detail = what if eff.ok else f"{what}: {eff.detail}"
                    addr = ans.addrs[0]
                    obs.append(
                        Observation(t, self.c.id, "request", addr, ans.region, ttl, eff.ok, detail)
                    )
        if not hist and obs is not None:  # an answer that names no lab region
            for i in range(a, b):
                addr = ans.addrs[0] if ans.addrs else ""
                obs.append(Observation(self.t(i), self.c.id, "request", addr, "", ttl, False, how))

    def failed_dns(self, i: int, why: str) -> None:
        if i >= self.n:
            return
        self.res.requests += 1
        if i >= self.i_fault:
            self.res.failed += 1
        if (
            self.m.fault_at is not None and self.m.dead is not None
        ):  # a request that went nowhere, for the window rule
            if i == self.i_fault - 1:
                self.win.before("")
            elif self.i_fault <= i <= self.i_last:
                self.win.after("", self.t(i) - self.m.fault_at)
        if self.observations is not None:
            self.observations.append(
                Observation(self.t(i), self.c.id, "request", "", "", None, False, f"dns: {why}")
            )

    def resolved(self, i: int, ans: Answer, upstream: str) -> None:
        self.res.resolutions += 1
        if self.observations is not None:
            first = ans.addrs[0] if ans.addrs else ""
            self.observations.append(
                Observation(
                    self.t(i),
                    self.c.id,
                    "resolve",
                    first,
                    ans.region,
                    ans.ttl if ans.ok else None,
                    ans.ok,
                    upstream if ans.ok else f"rcode {ans.rcode}",
                )
            )

    def next_bound(self, t: float) -> float:
        k = bisect.bisect_right(self.bounds, t)
        return self.bounds[k] if k < len(self.bounds) else math.inf


def _acc(
    c: Client,
    r: float,
    timeline: WorldTimeline,
    m: Measured,
    rng: random.Random,
    observations: list[Observation] | None,
    bounds: list[float],
    times: Sequence[float] | None = None,
) -> _Acc:
    sched = Schedule(c.start_offset, r, times)
    acc = _Acc(c, timeline, m, rng, observations, ClientResult(c.id), bounds=bounds, sched=sched)
    acc.win = WindowState(m.dead or "")
    acc.n = acc.idx(m.end)
    acc.i_fault = acc.idx(m.fault_at) if m.fault_at is not None else acc.n
    acc.i_last = min(acc.n, acc.idx(m.until) if m.until is not None else acc.n) - 1
    return acc


def _finish(acc: _Acc) -> ClientResult:
    res = acc.res
    if acc.m.dead is not None:
        res.window, res.censored = acc.win.window, acc.win.censored
    return res


def geo_client(c: Client) -> tuple[GeoClient, tuple[str, int | None]]:
    """How the authoritative server sees a client asking it directly: its source address."""
    return GeoClient.from_source(c.addr), (c.addr.rpartition(".")[0], None)


def poisson_times(c: Client, r: float, end: float, seed: int) -> list[float]:
    """Request times of a client with Poisson arrivals (mean gap ``r``): the first at its start
    offset, then exponential gaps, until ``end``."""
    import numpy as np

    gen = np.random.default_rng((seed, c.id))
    n = int(end / r * 1.2 + 10 * math.sqrt(end / r + 1) + 10)
    gaps = gen.exponential(r, size=n)
    ts = c.start_offset + np.concatenate(([0.0], np.cumsum(gaps)))
    while ts[-1] < end:  # rare: draw more
        more = ts[-1] + np.cumsum(gen.exponential(r, size=n))
        ts = np.concatenate((ts, more))
    out: list[float] = ts[ts < end].tolist()
    return out


def run_cached(
    c: Client,
    r: float,
    timeline: WorldTimeline,
    m: Measured,
    rng: random.Random,
    observations: list[Observation] | None = None,
    bounds: Sequence[float] = (),
    times: Sequence[float] | None = None,
) -> ClientResult:
    """A client with a cache of its own (every profile but ``direct``/``shared-resolver``);
    ``times``: its request times (Poisson arrivals), else every ``r`` from its offset."""
    acc = _acc(c, r, timeline, m, rng, observations, list(bounds), times)
    n, upstream = acc.n, c.profile.upstream
    client, key = geo_client(c)
    st = ClientStepper(c.profile, c.age_fraction)
    at, idx = acc.sched.t, acc.sched.idx  # (bound once: the loop below is the sim's hot path)
    jump = observations is None and not timeline.dynamic and times is None
    cur: Answer | None = None  # the answer the cached entry holds
    ttl: int | None = None
    lo, how = 0, "resolve"  # requests [lo, i) still to account to ``cur``; how ``lo`` got it
    i = 0
    while i < n:
        t = at(i)
        # a request at the computed decision index is at or after until() (acc.idx allows float
        # rounding of the grid): decide it there, as the grid in exact arithmetic would
        d = st.decide(max(t, st.until()))
        stored = False  # this request stored a fresh (not pre-aged) entry at t
        if d.act is not Act.USE:
            if cur is not None:
                acc.use(cur, lo, i, how, ttl)
            if d.act is Act.REFRESH:
                assert cur is not None
                acc.use(cur, i, i + 1, d.how, ttl)
            new = timeline.answer(client, key, t)  # lands at t: no DNS latency on this clock
            acc.resolved(i, new, upstream)
            if d.act is Act.REFRESH:
                st.refreshed(new, t)
                cur = new if new.ok else cur
                stored, lo, how = new.ok, i + 1, "cache"
            else:
                fresh = st.entry is not None
                if st.resolved(new, t) is None:
                    acc.failed_dns(i, f"rcode {new.rcode}")
                    lo = i = i + 1
                    continue
                cur, stored, lo, how = new, fresh, i, "resolve"
            assert cur is not None
            ttl = cur.ttl
        j = max(i + 1, idx(st.until()))
        if jump and stored and j < n and cur is not None:
            # the world is static until its next boundary and the entry was stored at t: the
            # cycle of k requests to ``cur`` repeats; account q whole cycles at once
            k = j - i
            q = (min(idx(acc.next_bound(t)), n) - 1 - i) // k
            if q >= 1:
                acc.use(cur, lo, lo + q * k, how, ttl)
                acc.res.resolutions += q
                lo, i = lo + q * k, i + q * k
                st.refreshed(cur, at(i))  # the q-th cycle's new entry
                j = max(i + 1, idx(st.until()))
        i = j
    if cur is not None:
        acc.use(cur, lo, n, how, ttl)
    return _finish(acc)


def run_uncached(
    c: Client,
    r: float,
    timeline: WorldTimeline,
    m: Measured,
    rng: random.Random,
    source: Source,
    source_bounds: Sequence[float],
    upstream: str,
    observations: list[Observation] | None = None,
    times: Sequence[float] | None = None,
) -> ClientResult:
    """A client that resolves on every request: ``source(t)`` is the answer it gets at ``t``
    (constant between ``source_bounds``)."""
    acc = _acc(c, r, timeline, m, rng, observations, [], times)
    cuts = sorted({0, acc.n, *(acc.idx(b) for b in source_bounds if b < m.end)})
    for lo, hi in itertools.pairwise(cuts):
        if lo >= hi:
            continue
        if observations is not None:
            for i in range(lo, hi):
                ans = source(acc.t(i))
                acc.resolved(i, ans, upstream)
                if ans.ok:
                    acc.use(ans, i, i + 1, "resolve", ans.ttl)
                else:
                    acc.failed_dns(i, f"rcode {ans.rcode}")
            continue
        ans = source(acc.t(lo))
        acc.res.resolutions += hi - lo
        if ans.ok:
            acc.use(ans, lo, hi, "resolve", ans.ttl)
        else:
            for i in range(lo, hi):
                acc.failed_dns(i, f"rcode {ans.rcode}")
    return _finish(acc)
