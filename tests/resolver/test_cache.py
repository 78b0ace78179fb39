"""The pure cache on explicit time: TTL countdown, LRU bound, prefetch window, serve-expired."""

from __future__ import annotations

from lab.clock import VirtualClock
from resolver.cache import Cache, CachePolicy
from resolver.ecs import GLOBAL

Q = ("www.lab.example.", 1, 1)
EXACT = CachePolicy(ttl_clock="exact")  # the exact clock here; the default: test_ttl_clock.py


def test_remaining_counts_down_and_is_never_inflated() -> None:
    clock = VirtualClock(100.0)
    cache: Cache[str] = Cache(EXACT)
    cache.put(Q, GLOBAL, "a", 10, clock.now())
    seen = []
    for _ in range(10):
        hit = cache.get(Q, None, clock.now())
        assert hit is not None and not hit.stale
        seen.append(hit.entry.remaining(clock.now()))
        clock.advance(0.999)
    assert seen == sorted(seen, reverse=True)
    assert seen[0] == 10 and all(r <= 10 - int(i * 0.999) for i, r in enumerate(seen))
    clock.advance(0.02)  # 10.01 s after storing
    assert cache.get(Q, None, clock.now()) is None
    assert len(cache) == 0  # dropped on the lookup that found it expired


def test_rounds_down_within_a_second() -> None:
    cache: Cache[str] = Cache(EXACT)
    entry = cache.put(Q, GLOBAL, "a", 3, 0.0)
    assert entry is not None
    assert entry.remaining(0.0) == 3
    assert entry.remaining(0.01) == 2
    assert entry.remaining(2.99) == 0
    assert entry.fresh(2.99) and not entry.fresh(3.0)


def test_ttl_zero_and_size_zero_store_nothing() -> None:
    cache: Cache[str] = Cache(EXACT)
    assert cache.put(Q, GLOBAL, "a", 0, 0.0) is None
    nocache: Cache[str] = Cache(CachePolicy(max_entries=0))
    assert nocache.put(Q, GLOBAL, "a", 30, 0.0) is None
    assert nocache.get(Q, None, 0.0) is None


def test_lru_evicts_least_recently_used() -> None:
    cache: Cache[str] = Cache(CachePolicy(max_entries=2))
    a, b, c = (("a.", 1, 1), ("b.", 1, 1), ("c.", 1, 1))
    cache.put(a, GLOBAL, "a", 60, 0.0)
    cache.put(b, GLOBAL, "b", 60, 0.0)
    assert cache.get(a, None, 1.0) is not None  # a is now the most recent
    cache.put(c, GLOBAL, "c", 60, 2.0)
    assert len(cache) == 2 and cache.evictions == 1
    assert cache.get(b, None, 3.0) is None
    assert cache.get(a, None, 3.0) is not None and cache.get(c, None, 3.0) is not None


def test_replace_keeps_one_entry() -> None:
    cache: Cache[str] = Cache(EXACT)
    cache.put(Q, GLOBAL, "old", 60, 0.0)
    cache.put(Q, GLOBAL, "new", 60, 5.0)
    hit = cache.get(Q, None, 6.0)
    assert len(cache) == 1 and hit is not None and hit.entry.payload == "new"


def test_prefetch_in_last_tenth_whole_seconds_like_unbound() -> None:
    cache: Cache[str] = Cache(CachePolicy(prefetch=True))
    cache.put(Q, GLOBAL, "a", 100, 0.0)
    early = cache.get(Q, None, 89.9)
    late = cache.get(Q, None, 90.0)
    assert early is not None and not early.prefetch
    assert late is not None and late.prefetch and not late.stale
    # TTL under 10 s: ttl // 10 == 0, so never while fresh (Unbound's integer arithmetic)
    cache.put(("short.", 1, 1), GLOBAL, "s", 9, 0.0)
    hit = cache.get(("short.", 1, 1), None, 8.99)
    assert hit is not None and not hit.prefetch


def test_prefetch_off_never_asks() -> None:
    cache: Cache[str] = Cache(CachePolicy(prefetch=False))
    cache.put(Q, GLOBAL, "a", 100, 0.0)
    hit = cache.get(Q, None, 99.0)
    assert hit is not None and not hit.prefetch


def test_serve_expired_unlimited_and_limited() -> None:
    forever: Cache[str] = Cache(
        CachePolicy(serve_expired=True, serve_expired_ttl=0, ttl_clock="exact")
    )
    forever.put(Q, GLOBAL, "a", 5, 0.0)
    hit = forever.get(Q, None, 5000.0)
    assert hit is not None and hit.stale and not hit.prefetch

    limited: Cache[str] = Cache(
        CachePolicy(serve_expired=True, serve_expired_ttl=10, ttl_clock="exact")
    )
    limited.put(Q, GLOBAL, "a", 5, 0.0)
    hit = limited.get(Q, None, 14.9)
    assert hit is not None and hit.stale
    assert limited.get(Q, None, 15.0) is None
    assert len(limited) == 0


def test_purge_drops_unservable_entries() -> None:
    cache: Cache[str] = Cache(EXACT)
    cache.put(("a.", 1, 1), GLOBAL, "a", 5, 0.0)
    cache.put(("b.", 1, 1), GLOBAL, "b", 50, 0.0)
    assert cache.purge(10.0) == 1
    assert len(cache) == 1


def test_bind_prefetch_trigger_and_eligibility() -> None:
    policy = CachePolicy(
        prefetch=True, prefetch_trigger=2, prefetch_eligibility=9, ttl_clock="exact"
    )
    cache: Cache[str] = Cache(policy)
    cache.put(Q, GLOBAL, "a", 30, 0.0)
    cache.put(("short.", 1, 1), GLOBAL, "s", 8, 0.0)
    before = cache.get(Q, None, 27.5)  # 2.5 s left -> remaining 2 (rounded down)
    too_early = cache.get(Q, None, 26.9)  # 3 s left
    assert before is not None and before.prefetch
    assert too_early is not None and not too_early.prefetch
    short = cache.get(("short.", 1, 1), None, 7.5)  # TTL 8 < eligibility 9
    assert short is not None and not short.prefetch


def test_scoped_lookup_matches_a_full_scan_of_every_scope() -> None:
    """Lookups probe one key per prefix length in use; the result is the one a scan of every
    stored scope (Scope.covers) would pick: fresh first, most specific, newest."""
    import random

    from resolver.ecs import ClientSubnet, scope_of

    rng = random.Random(7)
    cache: Cache[str] = Cache(CachePolicy(max_entries=400, serve_expired=True))
    stored: dict[object, tuple[str, float, int]] = {}
    for i in range(600):
        addr = f"10.{rng.randrange(4)}.{rng.randrange(8)}.{rng.randrange(256)}"
        sent = ClientSubnet.from_text(addr, rng.choice((16, 20, 24)))
        scope = scope_of(sent, rng.choice((0, 8, 12, 16, 20, 24)))
        ttl = rng.randrange(1, 40)
        cache.put(Q, scope, f"{i}", ttl, float(i) / 10)
        stored[scope] = (f"{i}", float(i) / 10, ttl)
    now = 45.0
    for _ in range(300):
        addr = f"10.{rng.randrange(4)}.{rng.randrange(8)}.{rng.randrange(256)}"
        subnet = ClientSubnet.from_text(addr, rng.choice((8, 16, 24)))
        hit = cache.get(Q, subnet, now)
        live = [  # a scan of what the LRU still holds
            (scope, e)
            for scope in stored
            if (e := cache.peek(Q, scope)) is not None and scope.covers(subnet)
        ]
        if not live:
            assert hit is None
            continue
        fresh = [(s, e) for s, e in live if e.fresh(now)] or live
        top = max(s.prefix for s, _ in fresh)
        want = max((e for s, e in fresh if s.prefix == top), key=lambda e: e.stored_at)
        assert hit is not None and hit.entry is want


class ProbeCounter(dict):  # type: ignore[type-arg]
    """A question's scope table that counts key probes and refuses to be scanned."""

    probes = 0

    def get(self, key: object, default: object = None) -> object:
        self.probes += 1
        return super().get(key, default)

    def _scan(self, *_: object) -> object:
        raise AssertionError("the lookup scanned every stored scope")

    __iter__ = items = values = keys = _scan  # type: ignore[assignment]


def test_thousands_of_scopes_are_looked_up_without_a_scan() -> None:
    """Structural, not timed: among 20,000 /24 scopes a lookup probes one key per
    (family, prefix) shape in use (here one) and never iterates the scopes."""
    from resolver.ecs import ClientSubnet, scope_of

    cache: Cache[str] = Cache(CachePolicy(max_entries=100_000))
    for i in range(20_000):
        sent = ClientSubnet.from_text(f"10.{i // 256}.{i % 256}.0", 24)
        cache.put(Q, scope_of(sent, 24), f"{i}", 30, 0.0)
    cache.put(Q, GLOBAL, "everyone", 30, 0.0)  # a second shape: /0
    table = ProbeCounter(cache._scopes[Q])
    cache._scopes[Q] = table
    subnet = ClientSubnet.from_text("10.3.3.0", 24)
    hit = cache.get(Q, subnet, 1.0)
    assert hit is not None and hit.entry.payload == str(3 * 256 + 3)
    assert table.probes == 2, f"{table.probes} probes for 2 shapes among {len(cache)} entries"
    other = cache.get(Q, ClientSubnet.from_text("192.0.2.0", 24), 1.0)
    assert other is not None and other.entry.payload == "everyone"
    assert table.probes == 4


def test_generation_changes_whenever_an_entry_of_the_question_comes_or_goes() -> None:
    """What the stored-wire fast path relies on to skip the scope walk (resolver/wirememo.py)."""
    from resolver.ecs import IPV4, Scope

    cache: Cache[str] = Cache(CachePolicy(max_entries=2))
    other = ("other.lab.example.", 1, 1)
    assert cache.generation(Q) == 0
    cache.put(Q, GLOBAL, "a", 10, 100.0)
    first = cache.generation(Q)
    cell = cache.generation_cell(Q)
    assert first and cell[0] == first
    cache.put(other, GLOBAL, "o", 10, 100.0)
    assert cell[0] == first  # another question: unchanged
    cache.put(Q, Scope(IPV4, 24, 0x7F020300), "scoped", 10, 100.0)  # evicts `other` (LRU)
    assert cell[0] not in (0, first)
    second = cell[0]
    cache.purge(200.0)  # everything expired: the question's last entry goes
    assert cell[0] == 0 and cache.generation(Q) == 0
    cache.put(Q, GLOBAL, "again", 10, 300.0)
    assert cache.generation(Q) not in (0, first, second)  # never a value seen before
    assert cell[0] == 0  # the old cell never matches again
