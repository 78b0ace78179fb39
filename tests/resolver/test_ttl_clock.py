"""``ttl-clock``: exact-instant expiry versus Unbound's whole-second arithmetic, on a virtual clock.

Unbound (``daemon/worker.c``, ``answer_from_cache``) stores ``now + ttl`` with ``now`` in whole
seconds, serves ``expiry - now``, and treats the entry as expired once ``expiry < now``: TTL 0
through the second it expires in, gone at the next whole second.
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import CollectorRegistry

from lab.clock import SystemClock, VirtualClock
from resolver.cache import Cache, CachePolicy
from resolver.core import NeedUpstream, Outcome, Reply, ResolverCore
from resolver.ecs import GLOBAL
from resolver.server import WallPhaseClock
from resolver.service import build, summary
from resolver.settings import ResolverSettings
from tests.resolver.messages import query, ttls
from tests.resolver.test_core import fill

Q = ("www.lab.example.", 1, 1)
SECONDS = CachePolicy(ttl_clock="seconds")


def served(cache: Cache[str], now: float) -> int | None:
    hit = cache.get(Q, None, now)
    return None if hit is None or hit.stale else hit.entry.remaining(now)


def test_seconds_counts_whole_seconds_from_the_second_it_was_stored_in() -> None:
    cache: Cache[str] = Cache(SECONDS)
    cache.put(Q, GLOBAL, "a", 3, 100.7)
    # Unbound: expiry = 100 + 3 = 103; served TTL = 103 - floor(now)
    seen = [(t, served(cache, t)) for t in (100.7, 100.99, 101.0, 102.5, 103.0, 103.99)]
    assert seen == [(100.7, 3), (100.99, 3), (101.0, 2), (102.5, 1), (103.0, 0), (103.99, 0)]
    assert served(cache, 104.0) is None  # 103 < 104: expired at the next whole second
    assert len(cache) == 0


def test_exact_expires_at_the_instant_and_counts_from_the_store() -> None:
    cache: Cache[str] = Cache(CachePolicy(ttl_clock="exact"))
    entry = cache.put(Q, GLOBAL, "a", 3, 100.7)
    assert entry is not None and entry.expires_at == pytest.approx(103.7)
    assert [served(cache, t) for t in (100.7, 101.0, 101.7, 103.69)] == [3, 2, 2, 0]
    assert served(cache, 103.7) is None


@pytest.mark.parametrize("stored", [0.0, 0.01, 0.5, 0.99])
def test_seconds_entry_lives_more_than_ttl_and_at_most_one_second_more(stored: float) -> None:
    cache: Cache[str] = Cache(SECONDS)
    entry = cache.put(Q, GLOBAL, "a", 2, stored)
    assert entry is not None and entry.expires_at == 3.0
    seen = []
    for step in range(400):  # every 10 ms from the store on
        now = stored + step / 100
        ttl = served(cache, now)
        if ttl is None:
            break
        seen.append(ttl)
    assert seen == sorted(seen, reverse=True) and seen[0] == 2 and seen[-1] == 0
    gone = stored + len(seen) / 100  # the first instant it was no longer served
    assert gone == pytest.approx(3.0, abs=0.01)
    assert 2 < gone - stored <= 3 + 0.01


def test_seconds_serve_expired_ttl_counts_from_the_next_whole_second() -> None:
    cache: Cache[str] = Cache(
        CachePolicy(serve_expired=True, serve_expired_ttl=5, ttl_clock="seconds")
    )
    cache.put(Q, GLOBAL, "a", 2, 10.4)
    hit = cache.get(Q, None, 12.9)
    assert hit is not None and not hit.stale  # TTL 0, still fresh
    hit = cache.get(Q, None, 13.0)
    assert hit is not None and hit.stale
    assert cache.get(Q, None, 17.99) is not None  # Unbound: 10 + 2 + 5 = 17 >= floor(now)
    assert cache.get(Q, None, 18.0) is None


def test_seconds_prefetch_window_is_unbounds() -> None:
    cache: Cache[str] = Cache(CachePolicy(prefetch=True, ttl_clock="seconds"))
    cache.put(Q, GLOBAL, "a", 20, 5.9)  # Unbound: prefetch once floor(now) >= 5 + 18
    early = cache.get(Q, None, 22.99)
    late = cache.get(Q, None, 23.0)
    assert early is not None and not early.prefetch
    assert late is not None and late.prefetch


def test_core_serves_ttl_zero_through_the_expiry_second_then_asks_upstream() -> None:
    clock = VirtualClock(50.6)
    core = ResolverCore(ResolverSettings(ttl_clock="seconds"))
    first = fill(core, clock, "127.0.1.1", ttl=3)
    assert first.outcome is Outcome.MISS and ttls(first.sections) == [3]
    answers = []
    for at in (51.0, 52.2, 53.0, 53.9):
        clock.set(at)
        step = core.lookup(query(), clock.now())
        assert isinstance(step, Reply) and step.outcome is Outcome.HIT
        answers.append(ttls(step.sections)[0])
    assert answers == [2, 1, 0, 0]
    clock.set(54.0)
    assert isinstance(core.lookup(query(), clock.now()), NeedUpstream)


def test_setting_spelling_default_and_bad_value() -> None:
    assert ResolverSettings().ttl_clock == "seconds"  # Unbound's, the default (issue 12)
    assert CachePolicy().ttl_clock == "seconds"  # a Cache on its own (the drills) likewise
    assert ResolverSettings.model_validate({"ttl-clock": "exact"}).ttl_clock == "exact"
    with pytest.raises(ValueError, match="ttl"):
        ResolverSettings.model_validate({"ttl-clock": "minutes"})


def test_seconds_runs_the_server_on_the_wall_clocks_seconds() -> None:
    """Unbound's seconds are time(0)'s: ours must tick at the same instants to agree."""
    server = build(ResolverSettings(ttl_clock="seconds"), CollectorRegistry())
    assert isinstance(server.clock, WallPhaseClock)
    assert server.core.cache.policy.ttl_clock == "seconds"
    assert "ttl-clock=seconds" in summary(server.core.settings)
    exact = build(ResolverSettings(ttl_clock="exact"), CollectorRegistry())
    assert isinstance(exact.clock, SystemClock)
    assert "ttl-clock=exact" in summary(exact.core.settings)
    clock = WallPhaseClock()
    before = time.time()
    now = clock.now()
    after = time.time()
    assert before - 0.01 <= now <= after + 0.01
    assert clock.now() >= now
