"""Named faults of a regional backend (pure: values in, values out, ``now`` passed in).

A region holds a ``FaultState``: the active faults by name, each with the time it started and
the time it expires (``duration``). Posting a fault replaces an active fault of the same name;
``clear`` removes one fault (``name``) or all of them. The shell asks two questions:

* ``listening(state, now)`` — should the main listener be open? (``down`` closes it for real)
* ``decide(state, now, kind, roll)`` — how to treat one request: delay, hang, or a status.

``kind`` is ``"health"`` for ``/healthz`` and ``"traffic"`` for everything else; the control
endpoints (``/v1/faults``, ``/metrics``) never pass through faults, so a region can always be
healed over HTTP — except under ``down``, whose way back is a ``duration`` or the control port.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

KNOWN_FAULTS: tuple[str, ...] = (
    "down",
    "hang",
    "slow",
    "error-rate",
    "flap",
    "healthz-only",
    "clear",
)

RequestKind = Literal["health", "traffic"]


class _Fault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    duration: float | None = Field(
        default=None, gt=0, description="seconds until the fault clears itself"
    )


class DownFault(_Fault):
    """Close the listening socket: new connections are refused."""

    fault: Literal["down"]


class HangFault(_Fault):
    """Accept the request and never answer."""

    fault: Literal["hang"]


class SlowFault(_Fault):
    """Add ``ms`` milliseconds of latency to every answer."""

    fault: Literal["slow"]
    ms: float = Field(gt=0, le=600_000)


class ErrorRateFault(_Fault):
    """Answer a fraction ``rate`` of requests with ``status`` (5xx)."""

    fault: Literal["error-rate"]
    rate: float = Field(ge=0.0, le=1.0)
    status: int = Field(default=503, ge=500, le=599)


class FlapFault(_Fault):
    """Alternate: down (503 on everything) for ``period`` s, then up for ``period`` s, ..."""

    fault: Literal["flap"]
    period: float = Field(gt=0, le=3600)


class HealthzOnlyFault(_Fault):
    """``/healthz`` answers ``status``; traffic is fine (a lying or broken health endpoint)."""

    fault: Literal["healthz-only"]
    status: int = Field(default=503, ge=400, le=599)


class ClearFault(BaseModel):
    """Remove the fault ``name``, or every fault when ``name`` is omitted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fault: Literal["clear"]
    name: str | None = None


FaultSpec = Annotated[
    DownFault | HangFault | SlowFault | ErrorRateFault | FlapFault | HealthzOnlyFault | ClearFault,
    Field(discriminator="fault"),
]
_ADAPTER: TypeAdapter[FaultSpec] = TypeAdapter(FaultSpec)


@dataclass(frozen=True)
class FaultError:
    """Why a payload was refused: the field and a message a user can act on."""

    field: str
    message: str


def parse_fault(payload: Any) -> FaultSpec | FaultError:
    """Validate one POST /v1/faults payload; never raises for bad input."""
    if not isinstance(payload, dict):
        return FaultError("body", 'expected a JSON object such as {"fault": "slow", "ms": 200}')
    name = payload.get("fault")
    if name not in KNOWN_FAULTS:
        known = ", ".join(KNOWN_FAULTS)
        what = "missing" if name is None else f"unknown fault {name!r}"
        return FaultError("fault", f"{what}; known faults: {known}")
    if name == "clear" and payload.get("name") not in (None, *KNOWN_FAULTS):
        return FaultError("name", f"unknown fault {payload.get('name')!r} to clear")
    try:
        return _ADAPTER.validate_python(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(p) for p in err["loc"] if str(p) != name]
        return FaultError(".".join(loc) or "body", f"{err['msg']} (fault {name!r})")


@dataclass(frozen=True)
class ActiveFault:
    spec: FaultSpec
    started: float
    expires: float | None

    def to_json(self, now: float) -> dict[str, Any]:
        left = None if self.expires is None else max(0.0, self.expires - now)
        return {**self.spec.model_dump(), "active_for_s": now - self.started, "expires_in_s": left}


@dataclass(frozen=True)
class FaultState:
    faults: dict[str, ActiveFault] = field(default_factory=dict)

    def active(self, now: float) -> dict[str, ActiveFault]:
        return {n: f for n, f in self.faults.items() if f.expires is None or f.expires > now}


def apply(state: FaultState, spec: FaultSpec, now: float) -> FaultState:
    """The state after posting ``spec`` at ``now`` (expired faults are dropped)."""
    faults = dict(state.active(now))
    if isinstance(spec, ClearFault):
        if spec.name is None:
            faults.clear()
        else:
            faults.pop(spec.name, None)
        return FaultState(faults)
    expires = None if spec.duration is None else now + spec.duration
    faults[spec.fault] = ActiveFault(spec, now, expires)
    return FaultState(faults)


def listening(state: FaultState, now: float) -> bool:
    return "down" not in state.active(now)


def next_expiry(state: FaultState, now: float) -> float | None:
    times = [f.expires for f in state.active(now).values() if f.expires is not None]
    return min(times) if times else None


@dataclass(frozen=True)
class Decision:
    """How to treat one request: wait ``delay`` s, then hang forever or answer ``status``."""

    delay: float = 0.0
    hang: bool = False
    status: int | None = None  # None: answer normally
    reason: str = ""


def flap_is_down(fault: ActiveFault, now: float) -> bool:
    assert isinstance(fault.spec, FlapFault)
    phase = math.floor((now - fault.started) / fault.spec.period)
    return phase % 2 == 0


def decide(state: FaultState, now: float, kind: RequestKind, roll: float) -> Decision:
    """Combine the active faults for one request. ``roll`` is uniform in [0, 1)."""
    active = state.active(now)
    delay = 0.0
    slow = active.get("slow")
    if slow is not None and isinstance(slow.spec, SlowFault):
        delay = slow.spec.ms / 1000.0
    if "hang" in active:
        return Decision(delay, hang=True, reason="hang")
    flap = active.get("flap")
    if flap is not None and flap_is_down(flap, now):
        return Decision(delay, status=503, reason="flap: down phase")
    hz = active.get("healthz-only")
    if kind == "health" and hz is not None and isinstance(hz.spec, HealthzOnlyFault):
        return Decision(delay, status=hz.spec.status, reason="healthz-only")
    er = active.get("error-rate")
    if er is not None and isinstance(er.spec, ErrorRateFault) and roll < er.spec.rate:
        return Decision(delay, status=er.spec.status, reason=f"error-rate {er.spec.rate}")
    return Decision(delay)


@dataclass(frozen=True)
class Effect:
    """What one probe or client request sees of a region: ok or not, after how long, and why."""

    ok: bool
    latency: float  # seconds until the answer (or until the caller gave up)
    detail: str  # "200", "connect refused", "timeout after 0.25s", "status 503"


def effect(
    state: FaultState, killed: bool, now: float, kind: RequestKind, timeout: float, roll: float
) -> Effect:
    """A request of ``kind`` at ``now`` with a client ``timeout``, against a region whose
    process is ``killed`` (or not) with ``state``'s faults (the virtual-time twin of an HTTP
    request: what the backend's ``decide`` does, as the caller experiences it)."""
    if killed or not listening(state, now):
        return Effect(False, 0.0, "connect refused")
    d = decide(state, now, kind, roll)
    if d.hang or d.delay >= timeout:
        return Effect(False, timeout, f"timeout after {timeout:g}s")
    if d.status is not None:
        return Effect(False, d.delay, f"status {d.status}")
    return Effect(True, d.delay, "200")


def require_duration_or_control(spec: FaultSpec, has_control: bool) -> FaultError | None:
    """``down`` closes the only HTTP door: refuse it unless there is a way back."""
    if isinstance(spec, DownFault) and spec.duration is None and not has_control:
        return FaultError(
            "duration",
            "'down' needs a duration (seconds) when the region runs without --control: "
            "otherwise nothing could bring it back",
        )
    return None
