"""The rise/fall state machine of one region (pure: results with their times in, state out).

States: ``unknown`` (no verdict yet), ``up``, ``down``. Thresholds are asymmetric (gdnsd,
HAProxy): an ``up`` region goes ``down`` after ``fall`` consecutive failures; a ``down`` region
comes back after ``rise`` consecutive successes. A failure or success in between resets the
other streak, so a flapping backend never changes state faster than the thresholds allow.

Startup (the "surprising startup state" complaint): with ``initial = "unknown"`` (default) the
region is reported as unknown until its first probe, and that first result decides directly —
no pretending it is up for ``fall`` intervals, no waiting ``rise`` intervals for a healthy
backend. ``initial = "up"`` (gdnsd, HAProxy ``init-state fully-up``) or ``"down"`` (``fully-down``)
starts from an assumed state that then needs the full ``fall``/``rise`` streak to change.

``next_change_at`` is the earliest time the state could next change: the remaining streak
length times the shortest possible probe spacing (``interval·(1 - jitter)``) after the probe
that produced the last result, assuming instant failures (connection refused). Used by the
authoritative server for dynamic TTLs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from healthcheck.settings import CheckSettings

State = Literal["unknown", "up", "down"]


@dataclass(frozen=True)
class ProbeResult:
    """One probe: ``started``/``finished`` on the checker's clock; ``rtt`` None when no answer."""

    ok: bool
    started: float
    finished: float
    detail: str  # "200", "connect refused", "timeout after 0.30s", "status 503", ...
    rtt: float | None = None


@dataclass(frozen=True)
class Transition:
    region: str
    previous: State
    state: State
    at: float
    reason: str


@dataclass(frozen=True)
class RegionHealth:
    region: str
    state: State = "unknown"
    since: float | None = None  # time of the last transition (or of startup)
    reason: str = "no probe yet"
    ok_streak: int = 0
    fail_streak: int = 0
    streak_since: float | None = None  # end of the first probe of the current ok/fail streak
    last: ProbeResult | None = None
    next_change_at: float | None = None
    probes: int = 0
    failures: int = 0
    transitions: int = 0


def next_start(started: float, interval: float, jitter: float, u: float) -> float:
    """When the next probe starts after one that started at ``started``; ``u`` uniform in [-1, 1]
    (the scheduler's rule: ``started + interval·(1 + jitter·u)``)."""
    return started + interval * (1 + jitter * u)


def initial(region: str, settings: CheckSettings, now: float) -> RegionHealth:
    reason = {
        "unknown": "no probe yet",
        "up": "assumed up at startup (checks.initial = up)",
        "down": "assumed down at startup (checks.initial = down)",
    }[settings.initial]
    return RegionHealth(region, settings.initial, since=now, reason=reason, next_change_at=now)


def _streak_reason(n: int, ok: bool, detail: str) -> str:
    noun = ("success" if n == 1 else "successes") if ok else ("failure" if n == 1 else "failures")
    return f"{n} consecutive {noun}: {detail}"


def next_change_at(h: RegionHealth, settings: CheckSettings, last_started: float) -> float:
    """Earliest time at which ``h`` could change state, given the probe schedule."""
    if h.state == "unknown":
        needed = 1
    elif h.state == "up":
        needed = settings.fall - h.fail_streak
    else:
        needed = settings.rise - h.ok_streak
    spacing = settings.interval * (1 - settings.jitter)
    return last_started + max(1, needed) * spacing


def step(
    h: RegionHealth, result: ProbeResult, settings: CheckSettings
) -> tuple[RegionHealth, Transition | None]:
    """Feed one probe result; return the new health and the transition it caused, if any."""
    ok_streak = h.ok_streak + 1 if result.ok else 0
    fail_streak = 0 if result.ok else h.fail_streak + 1
    new_state: State = h.state
    reason = h.reason
    if h.state == "unknown":
        new_state = "up" if result.ok else "down"
        reason = f"first probe {'succeeded' if result.ok else 'failed'}: {result.detail}"
    elif h.state == "up" and fail_streak >= settings.fall:
        new_state = "down"
        reason = _streak_reason(fail_streak, False, result.detail)
    elif h.state == "down" and ok_streak >= settings.rise:
        new_state = "up"
        reason = _streak_reason(ok_streak, True, result.detail)
    changed = new_state != h.state
    same_outcome = h.last is not None and h.last.ok == result.ok
    streak_since = h.streak_since if same_outcome else result.finished
    nh = replace(
        h,
        state=new_state,
        since=result.finished if changed else h.since,
        reason=reason,
        ok_streak=ok_streak,
        fail_streak=fail_streak,
        streak_since=streak_since,
        last=result,
        probes=h.probes + 1,
        failures=h.failures + (0 if result.ok else 1),
        transitions=h.transitions + (1 if changed else 0),
    )
    nh = replace(nh, next_change_at=next_change_at(nh, settings, result.started))
    if not changed:
        return nh, None
    return nh, Transition(h.region, h.state, new_state, result.finished, reason)
