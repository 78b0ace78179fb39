"""The analytic model of the stale-routing window (DESIGN.md, "Terms").

For a client with a busy cache (it makes requests often compared with its cache life), the
window after a fault is the detection delay, plus the propagation delay, plus whatever is
left of the client's cached answer when the authoritative answer changes. The checker
probes every I seconds at a phase uniform in [0, I) and marks a region down after F failed
probes, so detection is uniform in [(F-1)·I, F·I] plus the probe's own failure latency; the
remaining cache life is uniform in [0, TTL_eff]. Hence, with τ = probe latency + propagation:

    max  ≈ F·I + τ + TTL_eff
    mean ≈ (F - ½)·I + τ + TTL_eff / 2

TTL_eff is how long the profile keeps an answer (``Profile.life``), plus one request
interval for serve-stale (the first request after expiry still uses the stale answer).
A pinned client never re-resolves: its window is unbounded (``None`` here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lab.drill.profiles import Profile

PROPAGATION_GUESS_S = 0.05  # used when no propagation was measured (events are pushed, ~ms)


@dataclass(frozen=True)
class CheckParams:
    interval: float
    fall: int
    timeout: float


@dataclass(frozen=True)
class Prediction:
    mean_s: float | None  # None: unbounded (the client never re-resolves)
    max_s: float | None

    def as_dict(self) -> dict[str, float | None]:
        def r(x: float | None) -> float | None:
            return None if x is None else round(x, 4)

        return {"mean_s": r(self.mean_s), "max_s": r(self.max_s)}


# container faults whose probes time out: a killed container's address vanishes (nothing
# refuses the connection), a paused one hangs, a partitioned one is unreachable
TIMES_OUT = frozenset({"container-kill", "pause", "partition-checkers"})
# faults the checkers never see: clients are cut off while every probe still succeeds
UNSEEN_BY_CHECKERS = frozenset({"partition-clients"})


def probe_latency(action: str, fault: str, check: CheckParams) -> float:
    """How long one failing probe takes: a refused connection fails at once; a hang times out."""
    if (action == "fault" and fault in ("hang", "slow")) or action in TIMES_OUT:
        return check.timeout
    return 0.0


def unseen(duration: float | None, request_interval: float) -> Prediction:
    """A fault the checkers never see (``partition-clients``): no failover at all, so every
    client of the region is stale for the whole fault, less the phase of its last request
    (uniform in one request interval). Unbounded while the fault lasts (``None``)."""
    if duration is None:
        return Prediction(None, None)
    return Prediction(mean_s=max(0.0, duration - request_interval / 2), max_s=duration)


def detection(check: CheckParams, latency: float) -> Prediction:
    return Prediction(
        mean_s=(check.fall - 0.5) * check.interval + latency,
        max_s=check.fall * check.interval + latency,
    )


@dataclass(frozen=True)
class ResolverTTL:
    """The lab resolver's TTL clamps (``cache-min-ttl``, ``cache-max-ttl``) and serve-expired."""

    min_ttl: int = 0
    max_ttl: int = 86400
    serve_expired: bool = False
    stale_reply_ttl: int = 30  # the TTL a stale (serve-expired) answer carries

    def clamp(self, ttl: float) -> float:
        return float(max(self.min_ttl, min(self.max_ttl, ttl)))


def ttl_eff(
    profile: Profile, ttl: float, request_interval: float, resolver: ResolverTTL | None = None
) -> float:
    """How long after the answer changes a busy client of ``profile`` can still use the old one."""
    life = profile.life(ttl)
    if profile.kind == "shared-resolver":
        res = resolver or ResolverTTL()
        life = res.clamp(ttl) + (request_interval if res.serve_expired else 0.0)
    elif profile.kind == "serve-stale":
        life += request_interval
    return life


def window(check: CheckParams, tau: float, ttl_effective: float) -> Prediction:
    """max ≈ F·I + τ + TTL_eff, mean ≈ (F - ½)·I + τ + TTL_eff/2 (None when unbounded)."""
    if math.isinf(ttl_effective):
        return Prediction(None, None)
    return Prediction(
        mean_s=(check.fall - 0.5) * check.interval + tau + ttl_effective / 2,
        max_s=check.fall * check.interval + tau + ttl_effective,
    )


def given_detection(detection_s: float, propagation_s: float, ttl_effective: float) -> Prediction:
    """The model with this run's measured detection and propagation in place of their
    expectation: what is left is only the spread of the clients' cache ages."""
    if math.isinf(ttl_effective):
        return Prediction(None, None)
    base = detection_s + propagation_s
    return Prediction(mean_s=base + ttl_effective / 2, max_s=base + ttl_effective)


def predict(
    profile: Profile,
    ttl: float,
    check: CheckParams,
    request_interval: float,
    tau: float,
    resolver: ResolverTTL | None = None,
) -> Prediction:
    return window(check, tau, ttl_eff(profile, ttl, request_interval, resolver))


def combine(predictions: list[tuple[Prediction, int]]) -> tuple[Prediction, int]:
    """The population prediction over bounded clients (client-weighted mean, max of maxes),
    and how many clients were left out because their window is unbounded."""
    bounded = [(p, n) for p, n in predictions if n > 0 and p.mean_s is not None]
    unbounded = sum(n for p, n in predictions if n > 0 and p.mean_s is None)
    total = sum(n for _, n in bounded)
    if total == 0:
        return Prediction(None, None) if unbounded else Prediction(0.0, 0.0), unbounded
    mean = sum((p.mean_s or 0.0) * n for p, n in bounded) / total
    mx = max((p.max_s or 0.0) for p, _ in bounded)
    return Prediction(mean, mx), unbounded


def run_duration(
    fault_at: float,
    profiles: list[Profile],
    ttl: float,
    check: CheckParams,
    request_interval: float,
    tail: float,
    cap: float,
    resolver: ResolverTTL | None = None,
) -> float:
    """Long enough to see every bounded window close: first fault + largest model max + tail."""
    tau = check.timeout + PROPAGATION_GUESS_S
    maxes = [
        p.max_s
        for p in (predict(prof, ttl, check, request_interval, tau, resolver) for prof in profiles)
        if p.max_s is not None
    ]
    longest = max(maxes, default=check.fall * check.interval + check.timeout)
    return min(cap, fault_at + longest + tail)
