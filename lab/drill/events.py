"""Typed drill events: what a drill (live or simulated) produces, as it happens.

Both drivers publish the same events through the same calls (``RunRecord.observe``,
``RunRecord.emit``), so a consumer — the drill's Prometheus exporter, a live web page, a test —
subscribes once and works for ``dnslab drill``, ``drill --sim`` and ``dnslab sweep`` alike.

Times (``at``) are seconds since the run's client population started (the same scale as
``RunRecord`` and ``results.json``); events of one run arrive in a non-decreasing ``at``
order from the simulation, and in the order they were observed from a live drill (a checker
decision is published when its event arrives, with the time the checker decided).

==========================  =============================================================
event                       when
==========================  =============================================================
``RunStarted``              before the first client request of a run (one run per TTL)
``FaultInjected``           a fault step took effect (kill returned, POST answered, ...)
``FaultCleared``            a ``restart``/``clear`` step took effect
``InjectionFailed``         a fault step could not be carried out (the run fails)
``CheckerDecision``         a checker (vantage point) marked a region up or down
``AnswerChanged``           the authoritative answer for a location changed
``ClientResolved``          a client resolved the service name (or failed to)
``ClientRequest``           a client sent one request to the region its answer named
``WindowClosed``            an affected client's window closed (its first request after
                            the fault to another region); at the end of the run, windows
                            still open (censored, pinned clients) and reopened ones (the
                            latest event of a client is its window in results.json)
``DelayMeasured``           after the run: detection or propagation delay
``RunFinished``             the run ended (``end`` seconds), after the events above
==========================  =============================================================

Sinks implement ``EventSink.publish``; ``EventBus`` fans an event out to every sink and never
lets a failing sink stop the drill (the error is kept in ``EventBus.errors``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

Mode = Literal["live", "sim"]


@dataclass(frozen=True, slots=True)
class RunStarted:
    at: float
    ttl: int
    mode: Mode
    scenario: str
    clients: int
    end: float  # planned end of the run (seconds)
    ttl_clock: str = ""  # the lab resolver's TTL arithmetic ("seconds", "exact", ...)


@dataclass(frozen=True, slots=True)
class FaultInjected:
    at: float
    region: str
    action: str  # "kill" or "fault"
    fault: str  # the fault's name ("down", "hang", ...); "kill" for a kill
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FaultCleared:
    at: float
    region: str
    action: str  # "restart" or "clear"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class InjectionFailed:
    at: float
    region: str
    action: str
    detail: str


@dataclass(frozen=True, slots=True)
class CheckerDecision:
    at: float
    region: str
    up: bool
    vantage: str  # the checker's name (one per vantage point)
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AnswerChanged:
    at: float
    location: str
    addrs: tuple[str, ...]  # the answer now
    regions: tuple[str, ...]  # their regions
    previous: tuple[str, ...] = ()  # the answer's addresses before


@dataclass(frozen=True, slots=True)
class ClientResolved:
    at: float
    client: int
    profile: str
    location: str
    region: str  # region of the answer's first address ("" none / failure)
    ttl: int | None  # the TTL the client saw (None: failed)
    ok: bool = True
    upstream: str = "authoritative"  # "authoritative" or "resolver"


@dataclass(frozen=True, slots=True)
class ClientRequest:
    at: float
    client: int
    profile: str
    location: str
    region: str  # where the request was sent
    ok: bool  # HTTP 200
    dead: bool  # sent to the region the drill killed/faulted, after the fault
    outcome: str = ""  # how the answer was obtained / the error


@dataclass(frozen=True, slots=True)
class WindowClosed:
    client: int
    profile: str
    location: str
    ttl: int
    window_s: float
    censored: bool  # still sent to the dead region when the run ended: a lower bound


@dataclass(frozen=True, slots=True)
class DelayMeasured:
    what: Literal["detection", "propagation"]
    seconds: float
    region: str
    ttl: int


@dataclass(frozen=True, slots=True)
class RunFinished:
    at: float
    ttl: int
    mode: Mode
    failed: bool = False  # an injection failed: the run's numbers describe no real outage


DrillEvent = (
    RunStarted
    | FaultInjected
    | FaultCleared
    | InjectionFailed
    | CheckerDecision
    | AnswerChanged
    | ClientResolved
    | ClientRequest
    | WindowClosed
    | DelayMeasured
    | RunFinished
)

EVENT_TYPES: tuple[type, ...] = (
    RunStarted,
    FaultInjected,
    FaultCleared,
    InjectionFailed,
    CheckerDecision,
    AnswerChanged,
    ClientResolved,
    ClientRequest,
    WindowClosed,
    DelayMeasured,
    RunFinished,
)


class EventSink(Protocol):
    def publish(self, event: DrillEvent) -> None:
        """Take one event; should return quickly (it runs on the drill's loop)."""
        ...


@dataclass
class EventLog:
    """A sink keeping every event (tests, the conformance check, the report)."""

    events: list[DrillEvent] = field(default_factory=list)

    def publish(self, event: DrillEvent) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[DrillEvent]:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass
class CallbackSink:
    fn: Callable[[DrillEvent], None]

    def publish(self, event: DrillEvent) -> None:
        self.fn(event)


@dataclass
class EventBus:
    """Fans events out to the subscribed sinks; with none subscribed, publishing costs a test."""

    sinks: list[EventSink] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def subscribe(self, sink: EventSink) -> None:
        self.sinks.append(sink)

    @property
    def active(self) -> bool:
        return bool(self.sinks)

    def publish(self, event: DrillEvent) -> None:
        for sink in self.sinks:
            try:
                sink.publish(event)
            except Exception as exc:  # a broken consumer must not end a drill
                if len(self.errors) < 10:
                    self.errors.append(f"{type(sink).__name__}: {type(exc).__name__}: {exc}")
