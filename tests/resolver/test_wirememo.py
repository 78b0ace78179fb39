"""The encoded-reply memo never shows what the slow path would not: TTLs, entries, scopes."""

from __future__ import annotations

import asyncio
from typing import Literal

import dns.message
import pytest

from resolver.core import Reply
from resolver.settings import ResolverSettings
from tests.resolver.messages import query
from tests.resolver.test_server import FakeUpstream, make


def ttl_of(out: bytes | None) -> int:
    assert out is not None
    return int(dns.message.from_wire(out).answer[0].ttl)


@pytest.mark.parametrize(
    ("clock_kind", "expected"),
    [("exact", [10, 9, 9, 8, 8, 5, 0]), ("seconds", [10, 10, 10, 9, 8, 5, 1])],
)
def test_memo_ttls_match_the_slow_path_as_time_passes(
    clock_kind: Literal["exact", "seconds"], expected: list[int]
) -> None:
    """Stored wire, TTLs patched in place: every hit shows what the slow path would render."""

    async def go() -> None:
        settings = ResolverSettings(ttl_clock=clock_kind)
        server, clock, _ = make(settings, FakeUpstream("127.0.1.1", ttl=10))
        wire = dns.message.make_query("www.lab.example.", "A").to_wire()
        assert ttl_of(await server.handle(wire, "127.2.0.1", None)) == 10
        seen, fast_hits = [], 0
        for step in (0.0, 0.3, 0.6, 0.2, 0.9, 3.0, 4.9):
            clock.advance(step)
            fast = server.fast(wire, "127.2.0.1", None)
            reply = server.core.lookup(query(client="127.2.0.1"), clock.now())  # slow path's view
            assert isinstance(reply, Reply)
            expected_ttl = reply.sections.answer[0].ttl
            if fast is not None:
                fast_hits += 1
                got = ttl_of(fast)
            else:
                got = ttl_of(await server.handle(wire, "127.2.0.1", None))
            assert got == expected_ttl
            seen.append(got)
        assert seen == expected
        assert fast_hits == len(seen)  # every one of them came from the stored wire

    asyncio.run(go())


def test_memo_id_is_the_clients() -> None:
    async def go() -> None:
        server, _, _ = make(ResolverSettings(), FakeUpstream("127.0.1.1"))
        q = dns.message.make_query("www.lab.example.", "A")
        await server.handle(q.to_wire(), "127.2.0.1", None)
        q.id = 4321
        out = server.fast(q.to_wire(), "127.2.0.1", None)
        assert out is not None and dns.message.from_wire(out).id == 4321

    asyncio.run(go())


def test_memo_dropped_when_entry_replaced_or_expired() -> None:
    async def go() -> None:
        up = FakeUpstream("127.0.1.1", ttl=5)
        server, clock, _ = make(ResolverSettings(), up)
        wire = dns.message.make_query("www.lab.example.", "A").to_wire()
        await server.handle(wire, "127.2.0.1", None)
        clock.advance(6)
        assert server.fast(wire, "127.2.0.1", None) is None  # expired: slow path
        up.answers = ("127.0.2.1",)
        out = await server.handle(wire, "127.2.0.1", None)
        assert out is not None and "127.0.2.1" in dns.message.from_wire(out).to_text()
        again = server.fast(wire, "127.2.0.1", None)
        assert again is not None and "127.0.2.1" in dns.message.from_wire(again).to_text()

    asyncio.run(go())


def test_memo_respects_ecs_scope() -> None:
    async def go() -> None:
        server, _, _ = make(ResolverSettings(), FakeUpstream("127.0.2.1"))  # fake: scope /16
        wire = dns.message.make_query("www.lab.example.", "A").to_wire()
        await server.handle(wire, "127.2.0.1", None)
        assert server.fast(wire, "127.2.0.99", None) is not None  # same /24 key, same entry
        assert server.fast(wire, "127.1.0.1", None) is None  # other /16: not this answer

    asyncio.run(go())


def test_memo_prefetch_still_triggers() -> None:
    async def go() -> None:
        up = FakeUpstream("127.0.1.1", ttl=100)
        server, clock, registry = make(ResolverSettings(prefetch=True), up)
        wire = dns.message.make_query("www.lab.example.", "A").to_wire()
        await server.handle(wire, "127.2.0.1", None)
        clock.advance(89.5)  # TTL shown: 10; not yet in the last 10%
        await server.handle(wire, "127.2.0.1", None)
        clock.advance(0.5)  # age 90.0: TTL shown still 10, and now in the last 10%
        assert server.fast(wire, "127.2.0.1", None) is not None
        await server.settle()
        assert len(up.calls) == 2
        assert registry.get_sample_value("dnslab_resolver_prefetches_total") == 1

    asyncio.run(go())
