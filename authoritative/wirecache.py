"""Bounded LRU caches of wire bytes, sharing one byte budget (issue 13 finding 8).

The engine keeps three caches (exact UDP, exact TCP, answer). Each is an ``OrderedDict`` in
least-recently-used order, bounded by a number of entries, and all three draw on one
:class:`Budget` of bytes. Inserting past either bound evicts that cache's least recently
used entries, one at a time, until the new entry fits (when the budget is held by the other
caches, a cache that has nothing left to evict may overshoot it by its one new entry; the
others give back on their next insert): a flood of random names replaces
old entries gradually instead of growing memory or emptying the cache in one go.

An entry's size is an estimate: the bytes of its key and value plus a fixed overhead per
entry for the objects holding them (see ``ENTRY_OVERHEAD``, measured against RSS on CPython 3.11).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

# bytes per entry beyond its key and value bytes (tuples, dict slots, list links, allocator):
# measured, RSS grew 1.25 KB per random NXDOMAIN name (two entries of ~130 bytes) on CPython
# 3.11 (issue 13 finding 8; docs/authoritative.md)
ENTRY_OVERHEAD = 500
DEFAULT_ENTRIES = 200_000
DEFAULT_BYTES = 64 * 1024 * 1024


class Budget:
    """Bytes used by all caches drawing on it, against one limit."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int = DEFAULT_BYTES) -> None:
        self.limit = limit
        self.used = 0


class LruCache(Generic[K, V]):
    """``get`` marks an entry recently used; ``put`` evicts least recently used entries."""

    __slots__ = ("budget", "data", "evictions", "max_entries", "sizes", "used")

    def __init__(self, max_entries: int = DEFAULT_ENTRIES, budget: Budget | None = None) -> None:
        self.max_entries = max_entries
        self.budget = budget or Budget()
        self.data: OrderedDict[K, V] = OrderedDict()
        self.sizes: dict[K, int] = {}
        self.used = 0  # this cache's share of the budget
        self.evictions = 0

    def __len__(self) -> int:
        return len(self.data)

    def get(self, key: K) -> V | None:
        value = self.data.get(key)
        if value is not None:
            self.data.move_to_end(key)
        return value

    def put(self, key: K, value: V, size: int) -> None:
        """Insert (or replace) ``key``; ``size`` is its estimated bytes without the overhead."""
        size += ENTRY_OVERHEAD
        if key in self.data:
            self._remove(key)
        if size > self.budget.limit or self.max_entries < 1:
            return  # never fits: do not evict everything for it
        data = self.data
        budget = self.budget
        sizes = self.sizes
        while data and (len(data) >= self.max_entries or budget.used + size > budget.limit):
            old, _ = data.popitem(last=False)
            freed = sizes.pop(old)
            self.used -= freed
            budget.used -= freed
            self.evictions += 1
        data[key] = value
        self.sizes[key] = size
        self.used += size
        budget.used += size

    def _remove(self, key: K) -> None:
        del self.data[key]
        size = self.sizes.pop(key)
        self.used -= size
        self.budget.used -= size

    def clear(self) -> None:
        """Forget everything (the serving state changed), returning its bytes to the budget."""
        self.budget.used -= self.used
        self.used = 0
        self.data.clear()
        self.sizes.clear()
