"""Routing policies: which region(s) answer for this client, given the health view.

Pure. Every policy reduces to the same two steps, which is what makes answers explainable:

1. a **candidate order** for this client —
   ``geo-failover``: the client location's order (``order.default``, else the first listed
   location's, for clients in no location); ``failover``: ``regions`` (primary first);
   ``latency``: ``regions`` sorted by probe RTT measured from checkers in the client's location;
   ``weighted``: ``weights`` ranked by weighted rendezvous hashing of the client's /24 (/56),
   so each subnet sticks to one region and only a dead region's subnets move (pickwhashed,
   without the reshuffle); regions of weight 0 rank last, so they answer only when every
   weighted region is down; ``multivalue``: ``regions``.
2. **walk the order**: the first healthy region wins (``multivalue``: the first
   ``max_answers`` healthy ones). If none is healthy, ``all_down`` decides: ``fail-open``
   answers as if all were up (Route 53), ``first`` answers the first candidate,
   ``servfail`` and ``nodata`` answer so — except when no candidate has ever been checked
   (startup with ``assume = "down"`` and no saved health): then SERVFAIL, never a region
   nobody has seen healthy (docs/security.md, "Restarts").

The regions walked up to the decision are the ones the answer depends on: their next possible
state change bounds a dynamic TTL (ttl.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from authoritative.geo import Located
from authoritative.health import HealthView
from lab.config import Service

Outcome = Literal["answer", "servfail", "nodata"]
Depends = Literal["location", "subnet", "none"]


@dataclass(frozen=True)
class Step:
    region: str
    up: bool
    verdict: str  # "chosen", "skipped: down", "not reached", ...


@dataclass(frozen=True)
class Selection:
    chosen: tuple[str, ...]  # the regions whose records form the answer
    outcome: Outcome
    order: tuple[str, ...]  # the candidate order for this client
    order_from: str  # which config field the order came from, e.g. "order.eu"
    deciding: tuple[str, ...]  # regions whose state change could change this answer
    depends: Depends  # what of the client the answer depends on (ECS scope)
    all_down: bool
    why: str
    steps: tuple[Step, ...]


def subnet_of(located: Located) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The client subnet weighted answers stick to: /24 for IPv4, /56 for IPv6."""
    addr = located.client.address
    return ipaddress.ip_network((addr, 24 if addr.version == 4 else 56), strict=False)


def rendezvous_order(key: bytes, weights: Mapping[str, int]) -> tuple[str, ...]:
    """Regions ranked by weighted rendezvous (HRW) score for ``key``; weight 0 ranks last."""

    def score(region: str) -> float:
        digest = hashlib.blake2b(key + b"|" + region.encode(), digest_size=8).digest()
        u = (int.from_bytes(digest, "big") + 1) / (2**64 + 1)  # uniform in (0, 1)
        w = weights[region]
        return -w / math.log(u) if w > 0 else -math.inf

    return tuple(sorted(weights, key=lambda r: (-score(r), r)))


def latency_order(
    regions: Sequence[str], health: HealthView, vantages: Sequence[str]
) -> tuple[str, ...]:
    """``regions`` by lowest RTT seen from ``vantages`` (all checkers if empty); unknown last."""

    def rtt(region: str) -> float:
        seen = health[region].rtts
        values = [v for c, v in seen.items() if not vantages or c in vantages]
        return min(values) if values else math.inf

    return tuple(sorted(regions, key=lambda r: (rtt(r), regions.index(r))))


def candidate_order(
    svc: Service, located: Located, health: HealthView, vantages: Mapping[str, str | None]
) -> tuple[tuple[str, ...], str, Depends]:
    """(order, where it came from, what of the client it depends on)."""
    if svc.policy == "geo-failover":
        loc = located.location
        if loc is not None and loc in svc.order:
            return svc.order[loc], f"order.{loc}", "location"
        key = "default" if "default" in svc.order else next(iter(svc.order))
        return svc.order[key], f"order.{key}", "location"
    if svc.policy == "weighted":
        net = subnet_of(located)
        hkey = svc.name.encode() + b"|" + net.network_address.packed + bytes([net.prefixlen])
        return rendezvous_order(hkey, svc.weights), f"weights, hashed on {net}", "subnet"
    if svc.policy == "latency":
        here = [c for c, loc in vantages.items() if loc is not None and loc == located.location]
        order = latency_order(svc.regions, health, here)
        if here:
            return order, f"regions by RTT from {', '.join(here)}", "location"
        return order, "regions by RTT from all checkers", "none"
    return svc.regions, "regions", "none"


def select(
    svc: Service,
    located: Located,
    health: HealthView,
    vantages: Mapping[str, str | None] | None = None,
) -> Selection:
    order, order_from, depends = candidate_order(svc, located, health, vantages or {})
    want = svc.max_answers if svc.policy == "multivalue" else 1
    chosen: list[str] = []
    steps: list[Step] = []
    walked = 0
    for region in order:
        up = health.is_up(region)
        if len(chosen) >= want:
            steps.append(Step(region, up, "not reached"))
            continue
        walked += 1
        if up:
            chosen.append(region)
            steps.append(Step(region, up, "chosen"))
        else:
            steps.append(Step(region, up, "skipped: down"))
    if chosen:
        skipped = [st.region for st in steps if st.verdict == "skipped: down"]
        if svc.policy == "weighted" and svc.weights[chosen[0]] == 0:
            why = f"{chosen[0]} (weight 0: a backup) is up and every weighted region is down"
        elif want == 1:
            why = f"{chosen[0]} is the first healthy region in {order_from}"
        else:
            why = f"the first {len(chosen)} healthy regions (max_answers {want}) in {order_from}"
        if skipped:
            why += f"; skipped as down: {', '.join(skipped)}"
        return Selection(
            tuple(chosen),
            "answer",
            order,
            order_from,
            order[:walked],
            depends,
            False,
            why,
            tuple(steps),
        )
    known = any(health[r].known for r in order)
    return _all_down(svc, order, order_from, depends, want, known)


def _all_down(
    svc: Service,
    order: tuple[str, ...],
    order_from: str,
    depends: Depends,
    want: int,
    known: bool = True,
) -> Selection:
    usable = [r for r in order if svc.policy != "weighted" or svc.weights[r] > 0]
    mode = svc.all_down
    if not known:
        steps = tuple(Step(r, False, "skipped: not checked yet") for r in order)
        why = (
            "no candidate has been checked yet (assume = 'down', no saved health): SERVFAIL "
            f"until the first report (all_down = '{mode}' applies to regions known down)"
        )
        return Selection((), "servfail", order, order_from, order, "none", True, why, steps)
    if mode == "fail-open":
        chosen = tuple(usable[:want])
        why = "all candidates down: all_down = 'fail-open' answers as if all were up"
        outcome: Outcome = "answer"
    elif mode == "first":
        chosen = tuple(usable[:1])
        why = "all candidates down: all_down = 'first' answers the first candidate"
        outcome = "answer"
    else:
        chosen = ()
        why = f"all candidates down: all_down = '{mode}'"
        outcome = "servfail" if mode == "servfail" else "nodata"
        depends = "none"
    steps = tuple(
        Step(r, False, "chosen (all down)" if r in chosen else "skipped: down") for r in order
    )
    return Selection(chosen, outcome, order, order_from, order, depends, True, why, steps)
