"""The resolver's fast path: a cache hit answered from stored wire, TTLs patched in place.

The first time a query is answered from a cache entry, the encoded reply is kept (without its
2-byte ID) together with the offset of every RR's TTL field and the TTL the entry stores for
it. A repeat of the same query (same bytes after the ID: flags, question with its case, OPT
with any ECS; same transport; the same forwarded subnet for the client's address) is then
answered by copying the client's ID in front of those bytes. Per hit that costs:

* one dictionary lookup for the memo;
* one comparison with the entry's expiry and one with the cache's *generation* of the
  question (a number that changes whenever any entry of the question is stored or dropped,
  :meth:`resolver.cache.Cache.generation`): together they prove the cache would return the
  same entry, fresh — so no scope walk at all (the ECS scope lookup is O(1));
* when the whole-second age moved on (at most once a second), rewriting the TTL fields in
  place: every served TTL is ``max(0, stored - shift)`` with one ``shift`` for the whole reply
  (``floor(now) - floor(stored)`` with ``ttl-clock = "seconds"``, ``ceil(now - stored)``
  with ``"exact"``, 0 with ``serve-original-ttl``), exactly what the slow path would render.

Only recursive (RD=1) queries are memoised: what an RD=0 query gets depends on the client's
access-control action. Truncated replies and stale answers are never memoised.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from resolver.answers import Sections
from resolver.cache import Entry
from resolver.core import Outcome, Question, Reply, ResolverCore, UpstreamRequest
from resolver.ecs import ClientSubnet, subnet_to_forward
from resolver.settings import ecs_enabled

OPT = 41


@dataclass(slots=True)
class Memo:
    request: UpstreamRequest  # its .ecs is the subnet the cache is asked with
    question: Question
    entry: Entry[Sections]
    generation: int  # the cache's generation of the question when the memo was made
    cell: list[int]  # the cache's live generation cell of the question
    expires_at: float  # the entry's first instant not fresh
    base: float  # when the entry was stored (the exact clock)
    second: int  # floor(base): the whole second it was stored in (the default clock)
    prefetch_from: float | None  # ask the prefetch rule only from then on
    body: bytearray  # the reply without its ID; TTL fields patched to ``shift``
    ttls: tuple[tuple[int, int], ...]  # (offset of a TTL field in body, TTL as stored)
    shift: int


class WireMemo:
    def __init__(self, core: ResolverCore, limit: int = 4096) -> None:
        self.core = core
        self.limit = limit
        self._memos: dict[Hashable, Memo] = {}
        self._subnets: dict[str, ClientSubnet | None] = {}
        s = core.settings
        self._ecs = ecs_enabled(s)
        self._whole = s.ttl_clock == "seconds"
        self._original = s.serve_original_ttl
        self.on_prefetch: Callable[[UpstreamRequest], None] | None = None  # set by the server

    def __len__(self) -> int:
        return len(self._memos)

    def key(self, wire: bytes, client: str, max_size: int | None) -> Hashable:
        if self._ecs:
            return (wire[2:], max_size, self._subnet(client))
        if max_size is None:
            return wire[2:]  # UDP, no ECS: the bytes alone (never equal to a tuple key)
        return (wire[2:], max_size)

    def answer(self, key: Hashable, wire: bytes, now: float) -> bytes | None:
        """The reply with the client's ID, or None: take the slow path. A hit in the prefetch
        window also calls ``on_prefetch`` with the upstream request to refresh."""
        memo = self._memos.get(key)
        if memo is None:
            return None
        if now >= memo.expires_at or memo.cell[0] != memo.generation:
            del self._memos[key]
            return None
        if self._original:
            shift = 0
        elif self._whole:
            shift = int(now) - memo.second  # now > 0: int() is floor()
        else:
            shift = max(0, math.ceil(now - memo.base))
        if shift != memo.shift:
            body = memo.body
            for offset, ttl in memo.ttls:
                struct.pack_into("!I", body, offset, ttl - shift if ttl > shift else 0)
            memo.shift = shift
            self.core.cache.touch(memo.question, memo.entry.scope)  # LRU order, once a second
        if memo.prefetch_from is not None and now >= memo.prefetch_from:
            self._prefetch(memo, now)
        return wire[:2] + memo.body

    def _prefetch(self, memo: Memo, now: float) -> None:
        if self.on_prefetch is not None and self.core.cache.policy.wants_prefetch(memo.entry, now):
            self.on_prefetch(memo.request)

    def store(
        self, key: Hashable, request: UpstreamRequest, reply: Reply, out: bytes, now: float
    ) -> None:
        """Keep ``out`` (the reply just rendered for a fresh entry) for repeats of the query."""
        entry = reply.entry
        if entry is None or reply.outcome not in (Outcome.HIT, Outcome.MISS):
            return
        if len(out) < 12 or out[2] & 0x02 or not out[2] & 0x01:  # truncated, or RD=0 query
            return
        stored = [rrset.ttl for rrset in entry.payload.rrsets() for _ in rrset]
        offsets = ttl_offsets(out)
        if offsets is None or len(offsets) != len(stored):
            return
        base, second = entry.stored_at, math.floor(entry.stored_at)
        shift = self._shift(base, second, now)
        body = bytearray(out[2:])
        ttls = tuple((offset - 2, ttl) for offset, ttl in zip(offsets, stored, strict=True))
        for offset, ttl in ttls:  # the bytes are now exactly what `shift` says
            struct.pack_into("!I", body, offset, ttl - shift if ttl > shift else 0)
        if len(self._memos) >= self.limit:
            self._memos.clear()
        cache = self.core.cache
        self._memos[key] = Memo(
            request,
            request.question,
            entry,
            cache.generation(request.question),
            cache.generation_cell(request.question),
            entry.expires_at,
            base,
            second,
            cache.policy.prefetch_from(entry),
            body,
            ttls,
            shift,
        )

    def _shift(self, base: float, second: int, now: float) -> int:
        if self._original:
            return 0
        if self._whole:
            return max(0, math.floor(now) - second)
        return max(0, math.ceil(now - base))

    def _subnet(self, client: str) -> ClientSubnet | None:
        subnet = self._subnets.get(client, _UNSET)
        if subnet is _UNSET:
            s = self.core.settings
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


def ttl_offsets(wire: bytes) -> list[int] | None:
    """Offsets of the TTL field of every RR after the question, the OPT pseudo-RR excluded
    (its "TTL" is the extended RCODE and flags); None if the message does not walk cleanly."""
    try:
        qdcount, ancount, nscount, arcount = struct.unpack_from("!4H", wire, 4)
        pos = 12
        for _ in range(qdcount):
            pos = _skip_name(wire, pos) + 4
        out = []
        for _ in range(ancount + nscount + arcount):
            pos = _skip_name(wire, pos)
            rtype, _, _, rdlength = struct.unpack_from("!HHIH", wire, pos)
            if rtype != OPT:
                out.append(pos + 4)
            pos += 10 + rdlength
    except (struct.error, IndexError):
        return None
    return out if pos == len(wire) else None


def _skip_name(wire: bytes, pos: int) -> int:
    while True:
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        pos += length + 1
