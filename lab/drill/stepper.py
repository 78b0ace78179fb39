"""One drill client's sequencing, as a small pure state machine both drivers move.

The live driver (``lab.drill.live``: real DNS, real HTTP, asyncio sleeps) and the virtual-time
driver (``lab.sim.clients``: bulk accounting on a virtual clock) run every cached client the
same way, because they both ask a ``ClientStepper``:

1. ``decide(now)`` for each request: ``USE`` the cached answer, ``RESOLVE`` (wait for a
   fresh answer, then use it) or ``REFRESH`` (use the cached answer and resolve in the
   background: prefetch, or serve-stale). While a background refresh is in flight
   (``refreshing``) the next requests just use the cache; no second refresh is started.
2. ``resolved(lookup, at)`` after a ``RESOLVE``: the entry the request uses, or ``None`` when
   the lookup failed (the request fails as a DNS failure; the next request resolves again).
   The client's first successful answer is pre-aged by its ``age_fraction`` of the cache
   life (``profiles.first_entry``: the population starts in steady state).
3. ``refreshed(lookup, at)`` when a background refresh's answer lands; a failed one keeps
   the old entry.
4. ``until()``: up to which time every request is a plain ``USE`` that changes nothing, so
   a driver may skip to the first request at or after it (the sim accounts the requests in
   between as one range; the live driver simply asks at every tick).

What differs between the drivers is an input here, not a second implementation:

- ``at``: when an answer lands. Live: after the real DNS latency (``now()`` when the reply
  arrived). Sim: the request's own instant (zero DNS latency).
- The schedule (``Schedule``): a request every ``interval`` from the client's offset, or given
  times (Poisson arrivals); ``slip=True`` (live) makes a slow request delay the grid:
  ``next = max(previous + interval, finished)``; the sim keeps the grid exactly.
- The sim may jump over whole TTL cycles while the world is static (``lab.sim.clients``),
  using ``until()`` to know where a cycle ends.

Pure: no clock, no I/O; every time is an argument.
"""

from __future__ import annotations

import bisect
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from lab.drill.profiles import Entry, Plan, Profile, due, first_entry, plan, refresh_how, store

EPS = 1e-9  # request times on a grid are compared with this slack (float rounding)
NEVER = sys.maxsize  # the index of a request at time inf


class Act(Enum):
    USE = "use"  # the request uses the cached answer
    RESOLVE = "resolve"  # resolve now, wait for the answer, then make the request with it
    REFRESH = "refresh"  # the request uses the cached answer; resolve in the background


@dataclass(frozen=True)
class Decision:
    act: Act
    how: str  # how the request got its answer: "cache", "resolve", "prefetch", "stale"


USE = Decision(Act.USE, "cache")
RESOLVE = Decision(Act.RESOLVE, "resolve")


class Lookup(Protocol):
    """What a lookup returned, as the stepper needs it (the simulation's ``world.Answer`` is
    one; the live driver wraps its ``DnsAnswer`` in a ``Reply``): ``ok`` is False for a
    timeout or an error rcode."""

    @property
    def ok(self) -> bool: ...
    @property
    def addrs(self) -> tuple[str, ...]: ...
    @property
    def ttl(self) -> int: ...


@dataclass(frozen=True)
class Reply:
    ok: bool
    addrs: tuple[str, ...] = ()
    ttl: int = 0


class ClientStepper:
    """One client's cache state and the rules that move it (see the module docstring)."""

    __slots__ = ("age_fraction", "entry", "profile", "refreshing")

    def __init__(self, profile: Profile, age_fraction: float) -> None:
        self.profile = profile
        self.age_fraction = age_fraction
        self.entry: Entry | None = None  # None until the first successful answer
        self.refreshing = False  # a background refresh is in flight

    def decide(self, now: float) -> Decision:
        """What the request at ``now`` does (a ``REFRESH`` marks the refresh in flight)."""
        action = plan(self.profile, self.entry, now)
        if action is Plan.RESOLVE:
            return RESOLVE
        if action is Plan.USE_AND_REFRESH and not self.refreshing:
            assert self.entry is not None
            self.refreshing = True
            return Decision(Act.REFRESH, refresh_how(self.entry, now))
        return USE

    def resolved(self, ans: Lookup, at: float) -> Entry | None:
        """A ``RESOLVE``'s answer, landed at ``at``: the entry the request uses, or ``None``
        (the lookup failed: the request fails, the cache is left as it was)."""
        if not ans.ok:
            return None
        if self.entry is None:
            self.entry = first_entry(self.profile, ans.addrs, ans.ttl, at, self.age_fraction)
        else:
            self.entry = store(self.profile, ans.addrs, ans.ttl, at)
        return self.entry

    def refreshed(self, ans: Lookup, at: float) -> None:
        """A background refresh's answer landed at ``at`` (a failed one keeps the entry)."""
        self.refreshing = False
        if ans.ok:
            self.entry = store(self.profile, ans.addrs, ans.ttl, at)

    def until(self) -> float:
        """Every request before this time is a plain ``USE`` (no decision to make); ``-inf``
        when the next request must be decided (no entry, no cache, a refresh in flight)."""
        entry = self.entry
        if entry is None or not self.profile.caches or self.refreshing:
            return -math.inf
        return due(self.profile, entry)


@dataclass(frozen=True)
class Schedule:
    """When a client makes its requests: every ``interval`` from ``start``, or at ``times``
    (Poisson arrivals). ``slip``: a request that finishes after the next one was due delays
    the rest of the grid (the live driver: requests are sequential); without it the grid is
    kept exactly (the sim), so request ``i`` is at ``t(i)``."""

    start: float
    interval: float
    times: Sequence[float] | None = None
    slip: bool = False

    def after(self, scheduled: float, finished: float) -> float:
        """The next request time after the one scheduled at ``scheduled`` finished."""
        nxt = scheduled + self.interval
        return max(nxt, finished) if self.slip else nxt

    def t(self, i: int) -> float:
        """Request ``i``'s time (an exact grid or the given times; not with ``slip``)."""
        if self.times is not None:
            return self.times[i] if i < len(self.times) else math.inf
        return self.start + i * self.interval

    def idx(self, t: float) -> int:
        """The first request index at or after ``t`` (``NEVER`` for ``inf``)."""
        if t == math.inf:
            return NEVER
        if t == -math.inf:
            return 0
        if self.times is not None:
            return bisect.bisect_left(self.times, t)
        return max(0, math.ceil((t - self.start) / self.interval - EPS))
