"""``like = "..."``: start from the documented defaults of a resolver users meet.

Each profile only sets defaults; any option written next to it wins. Unbound 1.17 is the
base (the ResolverSettings defaults). The others are approximations from each project's
documented defaults, mapped onto our knobs; docs/resolver.md lists what does not map.
The serve-expired-* values describe each resolver's stale *flavour*, so turning
``serve-expired`` on after ``like`` gives that resolver's behaviour.
"""

from __future__ import annotations

from typing import Any

PROFILES: dict[str, dict[str, Any]] = {
    # Unbound 1.17: the ResolverSettings defaults (msg-cache-size counted in entries).
    "unbound": {},
    # BIND 9.18: max-cache-ttl 7d, max-ncache-ttl 3h, prefetch 2 9 (on), serve-stale off;
    # when on: stale-answer-ttl 30, max-stale-ttl 1d, stale-refresh-time 30 s, and
    # stale-answer-client-timeout off = stale only once resolution has failed. No ECS.
    "bind": {
        "cache-max-ttl": 604800,
        "cache-max-negative-ttl": 10800,
        "prefetch": True,
        "prefetch-trigger": 2,
        "prefetch-eligibility": 9,
        "serve-expired-ttl": 86400,
        "serve-expired-reply-ttl": 30,
        "serve-expired-client-timeout": 10000,
        "stale-refresh-time": 30,
        "send-client-subnet": False,
    },
    # dnsmasq 2.90: cache-size 150, no prefetch; --use-stale-cache off, when on: stale served
    # at once with TTL 0 and refreshed, at most 1 day past expiry. No ECS (--add-subnet off).
    "dnsmasq": {
        "msg-cache-size": 150,
        "serve-expired-ttl": 86400,
        "serve-expired-reply-ttl": 0,
        "serve-expired-client-timeout": 0,
        "send-client-subnet": False,
    },
    # CoreDNS cache plugin: success TTL 3600 / MINTTL 5, denial TTL 1800 / MINTTL 5,
    # capacity 9984; prefetch and serve_stale off; serve_stale when on: 1 h, "immediate".
    "coredns": {
        "cache-min-ttl": 5,
        "cache-max-ttl": 3600,
        "cache-max-negative-ttl": 1800,
        "msg-cache-size": 9984,
        "serve-expired-ttl": 3600,
        "serve-expired-client-timeout": 0,
        "send-client-subnet": False,
    },
    # systemd-resolved (v254+): at most 4096 entries, TTLs capped at 2 h, no prefetch,
    # StaleRetentionSec=0 (off); when on, stale only when the upstream fails. No ECS.
    "systemd-resolved": {
        "msg-cache-size": 4096,
        "cache-max-ttl": 7200,
        "serve-expired-client-timeout": 10000,
        "send-client-subnet": False,
    },
}


def with_profile(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` on top of the profile it names in ``like``; keys come out in Unbound's spelling."""
    like = data.get("like", "unbound")
    if not isinstance(like, str) or like not in PROFILES:
        return data  # the field validator reports it
    merged = dict(PROFILES[like])
    merged.update({str(k).replace("_", "-"): v for k, v in data.items()})
    return merged
