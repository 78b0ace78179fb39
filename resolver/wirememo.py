"""Compute once, serve many: the encoded reply to a repeated query, while it stays exact.

A fresh cache hit is re-encoded only when something a client could see changes. The memo is
keyed by the query bytes after the ID (flags, question with its case, OPT with any ECS), the
reply size limit and the subnet forwarded for the client's address. A memo is served only
if the cache still returns *the same entry*, fresh, and the TTLs it would now show equal those
in the memo (they all move together: every served TTL is ``floor(ttl - age)``). Otherwise the
caller takes the slow path (decode, resolve, render), which stores a new memo.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass

from resolver.answers import Sections
from resolver.cache import Entry, Hit
from resolver.core import Outcome, Reply, ResolverCore, UpstreamRequest
from resolver.ecs import ClientSubnet, subnet_to_forward
from resolver.settings import ecs_enabled


@dataclass(frozen=True, slots=True)
class Memo:
    request: UpstreamRequest  # its .ecs is the subnet the cache is asked with
    entry: Entry[Sections]
    shift: int  # original TTL minus served TTL of the first RRset when encoded
    body: bytes  # the reply without its 2-byte ID


class WireMemo:
    def __init__(self, core: ResolverCore, limit: int = 4096) -> None:
        self.core = core
        self.limit = limit
        self._memos: dict[Hashable, Memo] = {}
        self._subnets: dict[str, ClientSubnet | None] = {}

    def key(self, wire: bytes, client: str, max_size: int | None) -> Hashable:
        return (wire[2:], max_size, self._subnet(client))

    def lookup(self, key: Hashable, now: float) -> tuple[Memo, Hit[Sections]] | None:
        memo = self._memos.get(key)
        if memo is None:
            return None
        hit = self.core.cache.get(memo.request.question, memo.request.ecs, now)
        if hit is None or hit.stale or hit.entry is not memo.entry:
            del self._memos[key]
            return None
        if _shift(memo.entry, self.core, now) != memo.shift:
            return None
        return memo, hit

    def store(self, key: Hashable, request: UpstreamRequest, reply: Reply, out: bytes) -> None:
        entry = reply.entry
        if entry is None or reply.outcome not in (Outcome.HIT, Outcome.MISS):
            return
        served, original = reply.sections.rrsets(), entry.payload.rrsets()
        shift = original[0].ttl - served[0].ttl if served and original else 0
        if len(self._memos) >= self.limit:
            self._memos.clear()
        self._memos[key] = Memo(request, entry, shift, out[2:])

    def _subnet(self, client: str) -> ClientSubnet | None:
        s = self.core.settings
        if not ecs_enabled(s):
            return None
        subnet = self._subnets.get(client, _UNSET)
        if subnet is _UNSET:
            if len(self._subnets) >= self.limit:
                self._subnets.clear()
            subnet = subnet_to_forward(
                client,
                None,
                enabled=True,
                max_ipv4=s.max_client_subnet_ipv4,
                max_ipv6=s.max_client_subnet_ipv6,
            )
            self._subnets[client] = subnet
        return subnet


_UNSET = ClientSubnet(0, 0, 0)


def _shift(entry: Entry[Sections], core: ResolverCore, now: float) -> int:
    if core.settings.serve_original_ttl:
        return 0
    rrsets = entry.payload.rrsets()
    if not rrsets:
        return 0
    ttl = rrsets[0].ttl
    return ttl - max(0, math.floor(ttl - entry.age(now)))
