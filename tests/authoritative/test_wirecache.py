"""The engine's bounded LRU wire caches (issue 13 finding 8)."""

from __future__ import annotations

from authoritative.wirecache import ENTRY_OVERHEAD, Budget, LruCache


def test_least_recently_used_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(max_entries=3)
    for key in "abc":
        cache.put(key, ord(key), 1)
    assert cache.get("a") == ord("a")  # a is now the most recent
    cache.put("d", 4, 1)
    assert list(cache.data) == ["c", "a", "d"]
    assert cache.get("b") is None and cache.evictions == 1 and len(cache) == 3


def test_a_flood_evicts_one_entry_at_a_time() -> None:
    cache: LruCache[int, bytes] = LruCache(max_entries=100)
    cache.put(-1, b"hot", 3)
    sizes = []
    for n in range(1000):
        cache.put(n, b"x", 1)
        if n % 10 == 0:
            assert cache.get(-1) == b"hot"  # kept hot, never evicted
        sizes.append(len(cache))
    assert max(sizes) == 100 and sizes[-1] == 100
    assert min(sizes[99:]) == 100  # once full it stays full: no emptying in one go
    assert cache.evictions == 1000 + 1 - 100


def test_byte_budget_is_shared_and_never_exceeded() -> None:
    budget = Budget(limit=10 * (ENTRY_OVERHEAD + 100))
    first: LruCache[int, bytes] = LruCache(1000, budget)
    second: LruCache[int, bytes] = LruCache(1000, budget)
    for n in range(50):
        first.put(n, b"", 100)
        second.put(n, b"", 100)
        assert budget.used <= budget.limit
        assert budget.used == first.used + second.used
    assert len(first) + len(second) == 10 and first.evictions + second.evictions == 90


def test_replacing_and_clearing_keep_the_accounting() -> None:
    budget = Budget(limit=1 << 20)
    cache: LruCache[str, int] = LruCache(10, budget)
    cache.put("a", 1, 10)
    cache.put("a", 2, 20)
    assert cache.get("a") == 2 and cache.used == budget.used == 20 + ENTRY_OVERHEAD
    cache.clear()
    assert len(cache) == 0 and cache.used == budget.used == 0


def test_an_entry_larger_than_the_budget_is_not_cached() -> None:
    cache: LruCache[str, int] = LruCache(10, Budget(limit=ENTRY_OVERHEAD + 10))
    cache.put("small", 1, 5)
    cache.put("huge", 2, 10_000)
    assert cache.get("small") == 1 and cache.get("huge") is None and cache.evictions == 0
