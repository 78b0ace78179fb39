"""Client profiles: how a simulated client caches DNS answers and where it asks.

Each profile is one caching layer between the client and a fresh answer, so its effect on
the stale-routing window can be read on its own:

=================  ==============  =====================================================
profile            asks            cache policy
=================  ==============  =====================================================
honours-ttl        authoritative   own cache, keeps an answer exactly its TTL
shared-resolver    lab resolver    no own cache; the lab resolver is the shared cache
min-ttl:N          authoritative   own cache, keeps an answer max(TTL, N) (Chrome, Knot)
fixed:N            authoritative   own cache, keeps every answer N s, ignoring TTL (JVM)
pinned             authoritative   resolves once and never again
serve-stale        authoritative   TTL, then answers stale once and refreshes in the
                                   background (Unbound serve-expired, client timeout 0)
prefetch           authoritative   TTL; a request in the last 10% of the TTL refreshes in
                                   the background (Unbound prefetch)
direct             authoritative   no cache, asks on every request (HTTPDNS)
=================  ==============  =====================================================

Pure: ``plan`` and ``store`` take ``now`` and return values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Literal

Upstream = Literal["authoritative", "resolver"]

KINDS = (
    "honours-ttl",
    "shared-resolver",
    "min-ttl",
    "fixed",
    "pinned",
    "serve-stale",
    "prefetch",
    "direct",
)
_PARAMETRISED = ("min-ttl", "fixed")
PREFETCH_FRACTION = 0.1  # Unbound: prefetch when less than 10% of the original TTL is left
STALE_MAX_S = 30.0  # RFC 8767 §5: stale answers are served with TTL 30 s
DNS_TIMEOUT_S = 1.0  # a client gives up on a DNS query after this long
HTTP_TIMEOUT_S = 1.0  # ... and on a request to a region


@dataclass(frozen=True)
class Profile:
    kind: str
    param: float | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.param:g}" if self.param is not None else self.kind

    @property
    def upstream(self) -> Upstream:
        return "resolver" if self.kind == "shared-resolver" else "authoritative"

    @property
    def caches(self) -> bool:
        return self.kind not in ("shared-resolver", "direct")

    def life(self, ttl: float) -> float:
        """How long this client keeps an answer that arrived with ``ttl``."""
        if self.kind in ("shared-resolver", "direct"):
            return 0.0
        if self.kind == "min-ttl":
            assert self.param is not None
            return max(ttl, self.param)
        if self.kind == "fixed":
            assert self.param is not None
            return self.param
        if self.kind == "pinned":
            return math.inf
        return float(ttl)


def parse_profile(text: str) -> Profile:
    """``"min-ttl:60"`` → Profile("min-ttl", 60.0); raises ``ValueError`` naming the choices."""
    kind, sep, arg = text.strip().partition(":")
    if kind not in KINDS:
        raise ValueError(f"unknown client profile {text!r}; known: {', '.join(_known())}")
    if kind in _PARAMETRISED:
        try:
            value = float(arg)
        except ValueError:
            raise ValueError(f"profile {text!r} needs seconds, e.g. '{kind}:60'") from None
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"profile {text!r}: seconds must be a finite number >= 0")
        return Profile(kind, value)
    if sep:
        raise ValueError(f"profile {kind!r} takes no argument (got {text!r})")
    return Profile(kind)


def _known() -> list[str]:
    return [f"{k}:N" if k in _PARAMETRISED else k for k in KINDS]


@dataclass(frozen=True)
class Entry:
    """A cached answer: the addresses, the TTL it came with, when it arrived and expires."""

    addrs: tuple[str, ...]
    ttl: int
    fetched_at: float
    expires_at: float


class Plan(Enum):
    USE = "use"  # use the cached answer
    RESOLVE = "resolve"  # resolve now and wait for the answer
    USE_AND_REFRESH = "use+refresh"  # use the cached answer, resolve in the background


def due(profile: Profile, entry: Entry) -> float:
    """The earliest time at which a client with ``entry`` no longer just uses it (``plan`` is
    not ``USE`` from then on): the expiry, or the start of the prefetch window."""
    if profile.kind == "prefetch":
        return entry.expires_at - PREFETCH_FRACTION * entry.ttl
    return entry.expires_at


def plan(profile: Profile, entry: Entry | None, now: float) -> Plan:
    """What a client with ``profile`` and cache ``entry`` does for a request at ``now``."""
    if entry is None or not profile.caches:
        return Plan.RESOLVE
    if now < due(profile, entry):
        return Plan.USE
    if now < entry.expires_at:  # the prefetch window
        return Plan.USE_AND_REFRESH
    if profile.kind == "serve-stale" and now < entry.expires_at + STALE_MAX_S:
        return Plan.USE_AND_REFRESH
    return Plan.RESOLVE


def store(
    profile: Profile, addrs: tuple[str, ...], ttl: int, now: float, age: float = 0.0
) -> Entry:
    """The cache entry for an answer received at ``now``.

    ``age`` pre-ages the entry (a drill starts every cache at a uniform random age so the
    population begins in steady state rather than all clients expiring together).
    """
    life = profile.life(ttl)
    fetched = now - min(age, life) if math.isfinite(life) else now
    return Entry(addrs, ttl, fetched, fetched + life)


def first_entry(
    profile: Profile, addrs: tuple[str, ...], ttl: int, now: float, age_fraction: float
) -> Entry:
    """A client's first successful answer, pre-aged by ``age_fraction`` of its cache life
    (both drivers: the population starts in steady state)."""
    return store(profile, addrs, ttl, now, age_fraction * profile.life(ttl))


def refresh_how(entry: Entry, now: float) -> str:
    """How a ``USE_AND_REFRESH`` request got its answer: served stale, or prefetched."""
    return "stale" if now >= entry.expires_at else "prefetch"


def pick(addrs: tuple[str, ...], client_id: int) -> str:
    """The address a client connects to: the first one (answers are ordered by preference)."""
    del client_id
    return addrs[0]
