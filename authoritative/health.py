"""The health view: one immutable snapshot of every region's state, read once per query.

Pure. Three layers, in this order (the last word wins)::

    per-checker reports  ──quorum k of n──▶  region state  ──forced override──▶  served state
    (vantage points)       (or Route 53:       + since          (admin API;
                            > 18% say up)       + next change     always wins)

A checker that has not reported a region yet votes the startup assumption
(``authoritative.assume``); a checker whose feed is down keeps its last word (fail-static),
for at most ``max_stale`` seconds counted from when that word was last confirmed (``lost``);
after that the word is **expired**: ``on_expired = "keep"`` keeps voting it (reported as
expired), ``"startup"`` votes the startup assumption instead. A region no checker has ever
reported (every vote assumed) is not ``known``: policies never pick it under ``all_down``
(docs/security.md, "Restarts").

Every state carries the earliest time it could next change (gdnsd's lesson: state and TTL
travel together). For one checker that is ``at + (threshold - streak) * interval`` — ``fall``
failures in a row take an up region down, ``rise`` successes bring a down one up, and
``streak`` of them may already have happened. For the quorum it is the time at which enough
checkers could have flipped to change the outcome. Unknown (assumed, or a dead feed) means
"could change any moment": ``now``. Forced states never change by themselves: ``inf``.
Times are seconds on one clock shared with the caller's ``now`` (the server uses wall time,
because events come from other processes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

Quorum = int | Literal["majority", "all", "any", "route53"]
INF = math.inf


@dataclass(frozen=True)
class Observation:
    """One checker's latest word on one region."""

    up: bool
    since: float  # when this checker last changed its mind
    at: float  # the probe (or event) this word is from
    streak: int = 0  # consecutive probe results against `up` so far (0: stable)
    rtt: float | None = None  # seconds, last successful probe
    next_change: float | None = None  # the checker's own estimate, when it sends one


@dataclass(frozen=True)
class HealthRules:
    interval: float = 2.0
    fall: int = 3
    rise: int = 2
    assume: Literal["up", "down"] = "up"
    quorum: Quorum = "majority"
    max_stale: float = INF  # seconds a disconnected checker's last word stays fresh
    on_expired: Literal["keep", "startup"] = "keep"

    def needed(self, n: int) -> int:
        """How many of ``n`` checkers must say up for the region to be up."""
        q = self.quorum
        if q == "majority":
            return n // 2 + 1
        if q == "all":
            return n
        if q == "any":
            return 1
        if q == "route53":  # Route 53: healthy if more than 18% of checkers say so
            return math.floor(0.18 * n) + 1
        return min(q, n)

    def quorum_text(self, n: int) -> str:
        rule = {"route53": "Route 53 rule: > 18%"}.get(str(self.quorum), str(self.quorum))
        return f"{self.needed(n)} of {n} ({rule})"


@dataclass(frozen=True)
class HealthInputs:
    """Everything the view is computed from; replaced (never mutated) on each event."""

    checkers: tuple[str, ...]
    regions: tuple[str, ...]
    started: float
    reports: Mapping[tuple[str, str], Observation] = field(default_factory=dict)
    disconnected: frozenset[str] = frozenset()  # checkers whose feed is down (fail-static)
    forced: Mapping[str, tuple[bool, float]] = field(default_factory=dict)  # region -> (up, at)
    lost: Mapping[str, float] = field(default_factory=dict)  # disconnected checker -> confirmed at

    def report(self, checker: str, region: str, obs: Observation) -> HealthInputs:
        return replace(self, reports={**self.reports, (checker, region): obs})

    def forget(self, checker: str, region: str | None = None) -> HealthInputs:
        """Drop a checker's reports (of one region, or all): it votes the assumption again."""
        reports = {
            k: v
            for k, v in self.reports.items()
            if not (k[0] == checker and region in (None, k[1]))
        }
        return replace(self, reports=reports)

    def force(self, region: str, up: bool | None, at: float) -> HealthInputs:
        forced = {k: v for k, v in self.forced.items() if k != region}
        if up is not None:
            forced[region] = (up, at)
        return replace(self, forced=forced)

    def connection(self, checker: str, connected: bool, at: float | None = None) -> HealthInputs:
        """A feed went up or down; ``at``: when its word was last confirmed (default: now-ish,
        the start of this run)."""
        if connected:
            lost = {k: v for k, v in self.lost.items() if k != checker}
            return replace(self, disconnected=self.disconnected - {checker}, lost=lost)
        lost = dict(self.lost)
        lost.setdefault(checker, self.started if at is None else at)
        return replace(self, disconnected=self.disconnected | {checker}, lost=lost)

    def age(self, checker: str, now: float) -> float | None:
        """Seconds since the checker's kept word was last confirmed: 0 while its feed is up,
        None when there is no word of it at all."""
        if not any(k[0] == checker for k in self.reports):
            return None
        if checker not in self.disconnected:
            return 0.0
        return max(0.0, now - self.lost.get(checker, self.started))


@dataclass(frozen=True)
class Vote:
    checker: str
    up: bool
    next_change: float
    source: Literal["report", "assumed", "stale", "expired"]
    since: float


@dataclass(frozen=True)
class RegionHealth:
    region: str
    up: bool
    since: float
    next_change: float  # earliest time the state could change; inf when forced
    why: str
    votes: tuple[Vote, ...] = ()
    forced: bool = False
    rtts: Mapping[str, float] = field(default_factory=dict)  # checker -> seconds
    known: bool = True  # False: no checker ever reported it (every vote is the assumption)

    @property
    def state(self) -> str:
        return "up" if self.up else "down"


@dataclass(frozen=True)
class HealthView:
    regions: Mapping[str, RegionHealth]
    computed_at: float

    def is_up(self, region: str) -> bool:
        return self.regions[region].up

    def __getitem__(self, region: str) -> RegionHealth:
        return self.regions[region]


def _vote(inputs: HealthInputs, rules: HealthRules, checker: str, region: str, now: float) -> Vote:
    obs = inputs.reports.get((checker, region))
    if obs is None:
        return Vote(checker, rules.assume == "up", now, "assumed", inputs.started)
    if checker in inputs.disconnected:
        lost = inputs.lost.get(checker, inputs.started)
        if now - lost > rules.max_stale:
            if rules.on_expired == "startup":
                return Vote(checker, rules.assume == "up", now, "assumed", inputs.started)
            return Vote(checker, obs.up, now, "expired", obs.since)
        return Vote(checker, obs.up, now, "stale", obs.since)
    return Vote(checker, obs.up, next_change(obs, rules, now), "report", obs.since)


def next_change(obs: Observation, rules: HealthRules, now: float) -> float:
    """Earliest time this checker could change its mind about the region.

    ``at + (threshold - streak) * interval`` (or the checker's own estimate). Once that moment
    has passed without news, probes went on every ``interval`` after ``at`` and any of them
    could have been the last of a streak: the next one on that grid after ``now``.
    """
    if obs.next_change is not None:
        nxt = obs.next_change
    else:
        threshold = rules.fall if obs.up else rules.rise
        nxt = obs.at + max(threshold - obs.streak, 1) * rules.interval
    if nxt > now:
        return nxt
    return obs.at + (math.floor((now - obs.at) / rules.interval) + 1) * rules.interval


def _quorum_change(votes: list[Vote], up: bool, needed: int) -> float:
    """Earliest time enough votes could flip to change the outcome."""
    if up:
        flips, pool = sum(v.up for v in votes) - needed + 1, [v for v in votes if v.up]
    else:
        flips, pool = needed - sum(v.up for v in votes), [v for v in votes if not v.up]
    times = sorted(v.next_change for v in pool)
    return times[flips - 1] if 0 < flips <= len(times) else INF


def region_health(
    inputs: HealthInputs, rules: HealthRules, region: str, now: float
) -> RegionHealth:
    votes = [_vote(inputs, rules, c, region, now) for c in inputs.checkers]
    rtts = {
        c: obs.rtt
        for c in inputs.checkers
        if (obs := inputs.reports.get((c, region))) is not None and obs.rtt is not None
    }
    if region in inputs.forced:
        up, at = inputs.forced[region]
        why = f"forced {'up' if up else 'down'} (admin override; checkers ignored until cleared)"
        return RegionHealth(region, up, at, INF, why, tuple(votes), True, rtts)
    n, needed = len(votes), rules.needed(len(votes))
    ups = sum(v.up for v in votes)
    up = ups >= needed if n else rules.assume == "up"
    # since: when the k-th agreeing checker (of the current outcome) came to agree
    agreeing = sorted(v.since for v in votes if v.up == up)
    k = needed if up else n - needed + 1
    since = agreeing[k - 1] if 0 < k <= len(agreeing) else inputs.started
    known = not all(v.source == "assumed" for v in votes)
    if not known:
        expired = [c for c in inputs.checkers if (c, region) in inputs.reports]
        if expired:
            why = (
                f"assumed {rules.assume}: the last word of {', '.join(expired)} expired "
                f"(older than max_stale {rules.max_stale:g}s; on_expired = 'startup')"
            )
        else:
            why = f"assumed {rules.assume}: no checker has reported yet (authoritative.assume)"
    else:
        why = f"{ups} of {n} checkers say up; needs {rules.quorum_text(n)}"
        stale = [v.checker for v in votes if v.source == "stale"]
        if stale:
            why += f"; feed down, last word kept: {', '.join(stale)}"
        old = [v.checker for v in votes if v.source == "expired"]
        if old:
            why += (
                f"; EXPIRED (feed down longer than max_stale {rules.max_stale:g}s), "
                f"last word still kept (on_expired = 'keep'): {', '.join(old)}"
            )
    nxt = _quorum_change(votes, up, needed) if n else now
    return RegionHealth(region, up, since, nxt, why, tuple(votes), False, rtts, known)


def compute_view(inputs: HealthInputs, rules: HealthRules, now: float) -> HealthView:
    return HealthView({r: region_health(inputs, rules, r, now) for r in inputs.regions}, now)
