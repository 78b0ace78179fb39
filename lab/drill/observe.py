"""Observers of a live drill: the checker's decisions and the authoritative server's answers.

* ``fetch_states``: a region → state map from the checker's ``GET /v1/status`` (sync).
* ``CheckerWatch``: follows ``GET /v1/events`` (``healthcheck.feed.HealthFeed``) and keeps
  every state transition with its wall-clock time (``at``, comparable with ``time.time()``).
* ``AnswerProbe``: asks the authoritative server directly, from one source address per
  location, every ``period`` seconds, and keeps what it answered (propagation delay); its
  queries go into ``count`` (``netclient.QueryCount``), so they can be taken out of the
  server's count.
* ``server_queries``: the authoritative server's own count of the DNS queries it answered
  (``dnslab_authoritative_queries_total`` on its admin ``/metrics``, all labels summed).
* ``quiet_reading``: that count read while no probe query is on the wire, with each probe's
  count at that moment, so the probes' share of it is exactly their ``sent``.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from lab.drill.netclient import Counts, QueryCount, query


def fetch_states(status_url: str, timeout: float = 0.5) -> dict[str, str]:
    """Region → state ("up", "down", "unknown") from a checker's /v1/status; {} on error."""
    try:
        with urllib.request.urlopen(status_url, timeout=timeout) as resp:
            doc = json.loads(resp.read())
    except (OSError, ValueError):
        return {}
    return {str(r.get("region")): str(r.get("state")) for r in doc.get("regions", [])}


QUERIES_SERIES = "dnslab_authoritative_queries"  # the counter family (samples end _total)


def server_queries(metrics_url: str, timeout: float = 2.0) -> int | None:
    """The queries the authoritative server has answered so far (every transport, qtype and
    rcode), from its ``/metrics``; ``None`` when it cannot be read."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(metrics_url, timeout=timeout) as resp:
            text = resp.read().decode()
        families = list(text_string_to_metric_families(text))
    except (OSError, ValueError):
        return None
    for fam in families:
        if fam.name == QUERIES_SERIES:
            return int(sum(s.value for s in fam.samples if s.name.endswith("_total")))
    return None


QUIET_TRIES = 50  # readings tried until one finds no probe query on the wire
QUIET_PAUSE_S = 0.013  # between tries (off the probes' 0.1 s / 0.025 s beat)


@dataclass(frozen=True)
class Reading:
    """The server's query counter and every probe's count at the same moment."""

    server: int
    probes: tuple[Counts | None, ...]  # as given to ``quiet_reading`` (None: unreadable)
    loose: int = 0  # probe queries on the wire during the reading: in ``server`` or not


def quiet_reading(
    server: Callable[[], int | None],
    probes: Sequence[Callable[[], Counts | None]],
    tries: int = QUIET_TRIES,
    pause: float = QUIET_PAUSE_S,
) -> Reading | None:
    """Read ``server`` between two looks at every probe's count, until a reading finds none
    of them with a query on the wire (no query pending at the first look, none sent by the
    second): the server then has counted each probe query sent so far, and no other. After
    ``tries`` the last reading is returned with ``loose``, the queries it may be off by.
    None when the server's counter cannot be read. Blocking (sleeps between tries)."""
    for attempt in range(tries):
        first = [p() for p in probes]
        n = server()
        if n is None:
            return None
        last = [p() for p in probes]
        loose = sum(
            a.pending + (b.sent - a.sent)
            for a, b in zip(first, last, strict=True)
            if a is not None and b is not None
        )
        if loose == 0 or attempt == tries - 1:
            return Reading(n, tuple(first), loose)
        time.sleep(pause)
    return None


@dataclass(frozen=True)
class Transition:
    wall: float  # when the checker decided (its event's ``at``, Unix seconds)
    received: float  # when we got it (time.monotonic())
    region: str
    state: str
    previous: str
    reason: str
    streak_since: float | None = None  # wall time the deciding streak of results began


@dataclass
class CheckerWatch:
    events_url: str
    transitions: list[Transition] = field(default_factory=list)
    connected: bool = False
    on_transition: Callable[[Transition], None] | None = None
    key: bytes | None = None  # the checker's key: believe only its signed stream
    checker: str | None = None

    async def run(self) -> None:
        from healthcheck.events import Snapshot, StateEvent
        from healthcheck.feed import HealthFeed

        def on_event(ev: StateEvent) -> None:
            tr = Transition(
                ev.at,
                time.monotonic(),
                ev.status.region,
                str(ev.status.state),
                str(ev.previous),
                ev.status.reason,
                getattr(ev.status, "streak_since", None),
            )
            self.transitions.append(tr)
            if self.on_transition is not None:
                self.on_transition(tr)

        def on_snapshot(snap: Snapshot) -> None:
            self.connected = True

        await HealthFeed(
            self.events_url,
            on_snapshot=on_snapshot,
            on_event=on_event,
            key=self.key,
            checker=self.checker,
        ).run()

    def first(self, region: str, state: str, after_wall: float) -> Transition | None:
        return next(
            (
                t
                for t in self.transitions
                if t.region == region and t.state == state and t.wall >= after_wall
            ),
            None,
        )


@dataclass
class AnswerProbe:
    """Polls the authoritative server from each location's probe address."""

    server: tuple[str, int]
    sources: Mapping[str, str]  # location -> source address
    now: Callable[[], float]  # run-relative clock
    period: float = 0.025
    timeout: float = 0.5
    answers: dict[str, list[tuple[float, tuple[str, ...]]]] = field(default_factory=dict)
    # (t, location, new answer, previous answer) whenever a location's answer changes
    on_change: Callable[[float, str, tuple[str, ...], tuple[str, ...]], None] | None = None
    count: QueryCount = field(default_factory=QueryCount)  # its queries (not client traffic)
    stopping: bool = False  # set: each location ends after its query in flight

    async def run(self) -> None:
        await asyncio.gather(*(self._one(loc, src) for loc, src in self.sources.items()))

    async def _one(self, location: str, source: str) -> None:
        seen = self.answers.setdefault(location, [])
        while not self.stopping:
            t = self.now()
            ans = await query(self.server, source, self.timeout, count=self.count)
            if not ans.error:
                if seen and seen[-1][1] != ans.addrs and self.on_change is not None:
                    self.on_change(t, location, ans.addrs, seen[-1][1])
                seen.append((t, ans.addrs))
            await asyncio.sleep(max(0.0, t + self.period - self.now()))

    def changed_at(self, dead_addrs: frozenset[str], after: float) -> float | None:
        """When every location that was answered a dead address at ``after`` stopped getting one."""
        times: list[float] = []
        for seen in self.answers.values():
            before = [a for t, a in seen if t <= after]
            if not before or not (set(before[-1]) & dead_addrs):
                continue
            moved = next((t for t, a in seen if t > after and not (set(a) & dead_addrs)), None)
            if moved is None:
                return None
            times.append(moved)
        return max(times) if times else None
