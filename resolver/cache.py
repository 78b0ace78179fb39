"""The resolver's cache: pure, bounded, LRU, ECS-scoped, with prefetch and serve-stale decisions.

No I/O and no clock: every call takes ``now`` (seconds on any monotonic scale). The payload is
opaque (``T``): the resolver stores DNS sections, a simulation can store a tuple of addresses.

* Entries are keyed by ``(question, scope)``; ``question`` is any hashable (the resolver uses
  ``(qname, qtype, qclass)``), ``scope`` an :class:`resolver.ecs.Scope`.
* ``ttl`` is the entry's effective lifetime after clamps; an entry is **fresh** while
  ``age < ttl``. ``remaining(now)`` rounds down, so a TTL served from here is never inflated.
* ``ttl_clock`` (*dnslab* knob) picks the arithmetic. ``"exact"``: age is ``now - stored_at``
  and the entry expires at the exact instant ``stored_at + ttl``. ``"seconds"``: Unbound's,
  which counts whole seconds (``time(0)``): age is ``floor(now) - floor(stored_at)``, the entry
  stays fresh while ``age <= ttl`` (served with TTL 0 through the second it expires in) and
  expires at the next whole second, ``floor(stored_at) + ttl + 1``. Unbound's checks are
  ``rep->ttl < timenow`` (expired) and ``serve_expired_ttl < timenow`` (too stale) on absolute
  whole-second times (``daemon/worker.c``, ``answer_from_cache``).
* **prefetch** (Unbound's rule, whole seconds): a fresh hit with ``age >= ttl - ttl // 10``
  asks for a refresh. With integer arithmetic a TTL under 10 s never prefetches, as in Unbound.
  BIND's rule instead (``prefetch_trigger``): a hit with at most that many seconds left, on an
  entry whose TTL was at least ``prefetch_eligibility``.
* **serve-expired**: an expired entry stays servable (as stale) for ``serve_expired_ttl``
  seconds past expiry (0 = forever) and is dropped on the first lookup after that.
* The LRU bound counts entries (``max_entries``; 0 = cache nothing).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar

from resolver.ecs import ClientSubnet, Scope, truncate

T = TypeVar("T")
TtlClock = Literal["exact", "seconds"]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    max_entries: int = 10000
    prefetch: bool = False
    serve_expired: bool = False
    serve_expired_ttl: int = 0  # seconds past expiry an entry stays servable; 0 = no limit
    prefetch_trigger: int | None = None  # None: Unbound's last 10%; N: BIND's "<= N s left"
    prefetch_eligibility: int = 0  # BIND: only entries whose TTL was at least this
    ttl_clock: TtlClock = "seconds"  # Unbound's whole-second arithmetic; "exact": the instant

    def wants_prefetch(self, entry: Entry[T], now: float) -> bool:
        if not self.prefetch or not entry.fresh(now) or entry.ttl < self.prefetch_eligibility:
            return False
        if self.prefetch_trigger is None:
            return entry.age(now) >= entry.ttl - entry.ttl // 10
        return entry.remaining(now) <= self.prefetch_trigger

    def prefetch_from(self, entry: Entry[T]) -> float | None:
        """A time before which ``wants_prefetch(entry, now)`` is surely false (None: never), so
        a fast path asks it only from then on."""
        if not self.prefetch or entry.ttl < self.prefetch_eligibility:
            return None
        if self.prefetch_trigger is None:
            threshold = entry.ttl - entry.ttl // 10
        else:
            threshold = entry.ttl - self.prefetch_trigger - 1
        return math.floor(entry.stored_at) + threshold


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    payload: T
    stored_at: float
    ttl: int
    negative: bool
    scope: Scope
    whole_seconds: bool = False  # ttl-clock "seconds": Unbound's time(0) arithmetic

    def age(self, now: float) -> float:
        if self.whole_seconds:
            return float(max(0, math.floor(now) - math.floor(self.stored_at)))
        return max(0.0, now - self.stored_at)

    @property
    def expires_at(self) -> float:
        """The first instant the entry is no longer fresh."""
        if self.whole_seconds:
            return float(math.floor(self.stored_at) + self.ttl + 1)
        return self.stored_at + self.ttl

    def remaining(self, now: float) -> int:
        """Whole seconds of life left (rounded down: never more than the truth)."""
        return max(0, math.floor(self.ttl - self.age(now)))

    def fresh(self, now: float) -> bool:
        if self.whole_seconds:
            return self.age(now) <= self.ttl  # Unbound: expired once rep->ttl < timenow
        return self.age(now) < self.ttl


@dataclass(frozen=True, slots=True)
class Hit(Generic[T]):
    entry: Entry[T]
    stale: bool  # expired, served under serve-expired
    prefetch: bool  # fresh, but the caller should refresh it in the background


class Cache(Generic[T]):
    def __init__(self, policy: CachePolicy | None = None) -> None:
        self.policy = policy or CachePolicy()
        self._lru: OrderedDict[tuple[Hashable, Scope], Entry[T]] = OrderedDict()
        self._scopes: dict[Hashable, dict[Scope, Entry[T]]] = {}
        # per question: how many entries each (family, prefix) has, so a lookup probes one key
        # per prefix length in use instead of scanning every scope (thousands for /24 answers)
        self._prefixes: dict[Hashable, dict[tuple[int, int], int]] = {}
        # per question: a number that changes whenever any of its entries is stored or dropped
        # (never reused), so a memo of an answer (resolver/wirememo.py) checks in O(1) that the
        # cache would still pick the same entry
        self._generations: dict[Hashable, list[int]] = {}  # a one-element cell per question
        self._next_generation = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._lru)

    def generation(self, question: Hashable) -> int:
        """Changes (to a value never seen before) whenever an entry of ``question`` comes or
        goes; 0 when it has none."""
        cell = self._generations.get(question)
        return 0 if cell is None else cell[0]

    def generation_cell(self, question: Hashable) -> list[int]:
        """The live cell holding ``generation(question)``: a fast path keeps it and compares
        ``cell[0]`` without hashing the question again. A question whose last entry goes gets
        its cell set to 0 and a new cell later, so a kept cell never matches again."""
        cell = self._generations.get(question)
        return [0] if cell is None else cell

    def _touch(self, question: Hashable) -> None:
        self._next_generation += 1
        cell = self._generations.get(question)
        if cell is None:
            self._generations[question] = [self._next_generation]
        else:
            cell[0] = self._next_generation

    def servable(self, entry: Entry[T], now: float) -> bool:
        if entry.fresh(now):
            return True
        if not self.policy.serve_expired:
            return False
        limit = self.policy.serve_expired_ttl
        return limit == 0 or now - entry.expires_at < limit

    def get(self, question: Hashable, subnet: ClientSubnet | None, now: float) -> Hit[T] | None:
        """The best entry for this client: fresh before stale, then the most specific scope."""
        scoped = self._scopes.get(question)
        if not scoped:
            return None
        best: Entry[T] | None = None
        for scope in _candidates(self._prefixes[question], subnet):
            entry = scoped.get(scope)
            if entry is None:
                continue
            if not self.servable(entry, now):
                self._drop(question, scope)
                continue
            if best is None or _better(entry, best, now):
                best = entry
        if best is None:
            return None
        self._lru.move_to_end((question, best.scope))
        fresh = best.fresh(now)
        return Hit(best, stale=not fresh, prefetch=self.policy.wants_prefetch(best, now))

    def put(
        self,
        question: Hashable,
        scope: Scope,
        payload: T,
        ttl: int,
        now: float,
        negative: bool = False,
    ) -> Entry[T] | None:
        """Store (or replace) an answer; a TTL of 0 or a cache of size 0 stores nothing."""
        if ttl <= 0 or self.policy.max_entries <= 0:
            return None
        whole = self.policy.ttl_clock == "seconds"
        entry = Entry(payload, now, ttl, negative, scope, whole)
        key = (question, scope)
        if key not in self._lru:
            counts = self._prefixes.setdefault(question, {})
            shape = (scope.family, scope.prefix)
            counts[shape] = counts.get(shape, 0) + 1
        self._lru[key] = entry
        self._lru.move_to_end(key)
        self._scopes.setdefault(question, {})[scope] = entry
        self._touch(question)
        while len(self._lru) > self.policy.max_entries:
            (old_q, old_scope), _ = self._lru.popitem(last=False)
            self._forget(old_q, old_scope)
            self.evictions += 1
        return entry

    def touch(self, question: Hashable, scope: Scope) -> None:
        """Mark an entry recently used (the LRU order), as a lookup that returned it would."""
        key = (question, scope)
        if key in self._lru:
            self._lru.move_to_end(key)

    def peek(self, question: Hashable, scope: Scope) -> Entry[T] | None:
        """The entry stored under exactly this key, servable or not (no LRU touch)."""
        return self._lru.get((question, scope))

    def purge(self, now: float) -> int:
        """Drop every entry that can no longer be served; returns how many."""
        dead = [k for k, e in self._lru.items() if not self.servable(e, now)]
        for question, scope in dead:
            self._drop(question, scope)
        return len(dead)

    def _drop(self, question: Hashable, scope: Scope) -> None:
        self._lru.pop((question, scope), None)
        self._forget(question, scope)

    def _forget(self, question: Hashable, scope: Scope) -> None:
        scoped = self._scopes.get(question)
        if scoped is None or scoped.pop(scope, None) is None:
            return
        self._touch(question)
        counts = self._prefixes[question]
        shape = (scope.family, scope.prefix)
        counts[shape] -= 1
        if not counts[shape]:
            del counts[shape]
        if not scoped:
            del self._scopes[question]
            del self._prefixes[question]
            self._generations.pop(question)[0] = 0


def _candidates(prefixes: dict[tuple[int, int], int], subnet: ClientSubnet | None) -> list[Scope]:
    """The scopes that could cover ``subnet``: one per (family, prefix) stored for a question."""
    out = []
    for family, prefix in prefixes:
        if prefix == 0:
            out.append(Scope(family, 0, 0))  # everyone
        elif subnet is not None and subnet.family == family and subnet.source >= prefix:
            out.append(Scope(family, prefix, truncate(subnet.address, prefix, subnet.bits)))
    return out


def _better(a: Entry[T], b: Entry[T], now: float) -> bool:
    a_fresh, b_fresh = a.fresh(now), b.fresh(now)
    if a_fresh != b_fresh:
        return a_fresh
    if a.scope.prefix != b.scope.prefix:
        return a.scope.prefix > b.scope.prefix
    return a.stored_at > b.stored_at
