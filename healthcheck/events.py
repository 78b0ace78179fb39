"""The health event payloads (pure, typed) and the bounded event history behind resume.

Wire format of ``GET /v1/events`` (Server-Sent Events):

* ``event: snapshot`` — a ``Snapshot``: every region's current ``RegionStatus``; sent on connect
  (after every region's first verdict: heartbeats until then, never a snapshot of "unknown"),
  and instead of a replay when ``Last-Event-ID`` is unknown, from another checker run or too old.
* ``event: state`` — a ``StateEvent``: one transition of one region.
* ``event: status`` — a ``RegionStatus`` after every probe that caused no transition (its
  ``next_change_at`` and ``rtt_s`` moved). It carries no ``id`` and is never replayed: the
  snapshot or the next status message supersedes it.
* ``: hb`` comment lines every ``checks.heartbeat`` seconds, so a client can tell a quiet feed
  from a dead one.

Ids are ``"<boot>-<seq>"``: ``boot`` names one run of the checker (random hex), ``seq`` counts
transitions from 1 in that run and is strictly increasing. A snapshot's id is the last state
event's id (``"<boot>-0"`` before the first).

Times are **wall-clock Unix seconds** (``since``, ``at``, ``next_change_at``), so any process on
the host can compare them with ``time.time()``; ``next_change_in_s`` is the same instant as
seconds after ``at``. ``next_change_at`` is the earliest moment the region's state could change
(see ``healthcheck.state``); an authoritative server may bound its TTL by it.
"""

from __future__ import annotations

from collections import deque
from typing import Literal

from pydantic import BaseModel, ConfigDict

from healthcheck.state import RegionHealth, State, Transition


class RegionStatus(BaseModel):
    """One region as one checker sees it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    checker: str
    region: str
    state: State
    since: float | None
    reason: str
    rtt_s: float | None
    next_change_at: float | None
    next_change_in_s: float | None
    last_probe_at: float | None
    last_detail: str | None
    probes: int
    failures: int
    transitions: int
    streak: int = 0  # consecutive results like the last one (successes or failures)
    streak_since: float | None = None  # when that streak's first result came in


class StateEvent(BaseModel):
    """A transition: ``previous`` → ``status.state`` at ``at``."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["state"] = "state"
    id: str
    seq: int
    boot: str
    at: float
    previous: State
    status: RegionStatus


class Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    type: Literal["snapshot"] = "snapshot"
    id: str
    seq: int
    boot: str
    checker: str
    at: float
    regions: list[RegionStatus]


def status_of(h: RegionHealth, checker: str, to_wall: float, at_mono: float) -> RegionStatus:
    """Convert a pure ``RegionHealth`` (monotonic times) to its wire form (wall = mono + to_wall)."""

    def wall(t: float | None) -> float | None:
        return None if t is None else t + to_wall

    last = h.last
    return RegionStatus(
        checker=checker,
        region=h.region,
        state=h.state,
        since=wall(h.since),
        reason=h.reason,
        rtt_s=None if last is None else last.rtt,
        next_change_at=wall(h.next_change_at),
        next_change_in_s=None if h.next_change_at is None else max(0.0, h.next_change_at - at_mono),
        last_probe_at=None if last is None else wall(last.finished),
        last_detail=None if last is None else last.detail,
        probes=h.probes,
        failures=h.failures,
        transitions=h.transitions,
        streak=h.ok_streak if last is not None and last.ok else h.fail_streak,
        streak_since=wall(h.streak_since),
    )


def make_id(boot: str, seq: int) -> str:
    return f"{boot}-{seq}"


def parse_id(text: str) -> tuple[str, int] | None:
    boot, sep, seq = text.strip().rpartition("-")
    if not sep or not boot or not seq.isdigit():
        return None
    return boot, int(seq)


class EventLog:
    """The last ``capacity`` state events of one checker run, for ``Last-Event-ID`` resume."""

    def __init__(self, boot: str, capacity: int) -> None:
        self.boot = boot
        self.seq = 0
        self._events: deque[StateEvent] = deque(maxlen=capacity)

    @property
    def last_id(self) -> str:
        return make_id(self.boot, self.seq)

    def append(self, t: Transition, status: RegionStatus, to_wall: float) -> StateEvent:
        self.seq += 1
        ev = StateEvent(
            id=make_id(self.boot, self.seq),
            seq=self.seq,
            boot=self.boot,
            at=t.at + to_wall,
            previous=t.previous,
            status=status,
        )
        self._events.append(ev)
        return ev

    def after(self, last_event_id: str | None) -> list[StateEvent] | None:
        """Events after ``last_event_id``; None when the caller must take a snapshot instead."""
        if last_event_id is None:
            return None
        parsed = parse_id(last_event_id)
        if parsed is None or parsed[0] != self.boot or parsed[1] > self.seq:
            return None
        seq = parsed[1]
        oldest = self._events[0].seq if self._events else self.seq + 1
        if seq < oldest - 1:
            return None  # the gap fell out of the history
        return [e for e in self._events if e.seq > seq]
