"""Answer TTLs: ``fixed``, or ``dynamic`` (gdnsd's DYNA rule).

Pure. A dynamic TTL is the time until the next possible state change of the regions that
decided the answer (health.py computes each region's ``next_change``), rounded down to whole
seconds and clamped to ``[ttl_min, ttl_max]``: a resolver may keep the answer exactly as long
as it cannot have become wrong, and no longer than the operator allows.

``valid_until`` says until when the very same TTL holds, so the server may reuse an encoded
answer until then (fixed TTLs and TTLs clamped at the minimum hold until the state changes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from authoritative.health import HealthView
from lab.config import Service

INF = math.inf


@dataclass(frozen=True)
class TtlDecision:
    ttl: int
    why: str
    valid_until: float


def dynamic_ttl(next_change: float, now: float, lo: int, hi: int) -> tuple[int, float]:
    """(ttl, valid_until) for a state that could change at ``next_change``."""
    if next_change == INF:
        return hi, INF
    raw = math.floor(next_change - now)
    ttl = min(max(raw, lo), hi)
    return ttl, (INF if ttl <= lo else next_change - ttl)


def answer_ttl(
    svc: Service, deciding: Sequence[str], health: HealthView, now: float
) -> TtlDecision:
    if svc.ttl_policy == "fixed":
        return TtlDecision(svc.ttl, f"fixed: ttl = {svc.ttl}", INF)
    lo, hi = svc.ttl_min, svc.ttl_ceiling
    if not deciding:
        return TtlDecision(hi, f"dynamic: no region decided this answer -> ttl_max {hi}", INF)
    first = min(deciding, key=lambda r: health[r].next_change)
    nxt = health[first].next_change
    ttl, until = dynamic_ttl(nxt, now, lo, hi)
    if nxt == INF:
        why = f"dynamic: {', '.join(deciding)} cannot change by themselves (forced) -> ttl_max {hi}"
    else:
        why = (
            f"dynamic: {first} could change in {max(nxt - now, 0.0):.1f}s at the earliest"
            f" -> {math.floor(max(nxt - now, 0.0))}s clamped to [{lo}, {hi}] = {ttl}"
        )
    return TtlDecision(ttl, why, until)
