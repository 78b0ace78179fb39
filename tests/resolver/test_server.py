"""The asyncio shell without sockets: a fake upstream, the real core, wire in and out."""

from __future__ import annotations

import asyncio

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rrset
from prometheus_client import CollectorRegistry

from lab.clock import VirtualClock
from resolver.core import Outcome, ResolverCore, UpstreamRequest
from resolver.metrics import ResolverMetrics
from resolver.server import ResolverServer
from resolver.settings import ResolverSettings
from resolver.upstream import UpstreamError
from tests.resolver.messages import query, response


class FakeUpstream:
    def __init__(self, *answers: str, ttl: int = 10, hang: bool = False, fail: str = "") -> None:
        self.answers, self.ttl, self.hang, self.fail = answers, ttl, hang, fail
        self.calls: list[UpstreamRequest] = []
        self.release = asyncio.Event()

    async def resolve(self, request: UpstreamRequest) -> tuple[dns.message.Message, float]:
        self.calls.append(request)
        await asyncio.sleep(0)
        if self.hang:
            await self.release.wait()
        if self.fail:
            raise UpstreamError(self.fail, "fake")
        return response(request, *self.answers, ttl=self.ttl, scope=16), 0.001


def make(
    settings: ResolverSettings, upstream: FakeUpstream
) -> tuple[ResolverServer, VirtualClock, CollectorRegistry]:
    clock, registry = VirtualClock(1000.0), CollectorRegistry()
    core = ResolverCore(settings)
    server = ResolverServer(
        core, upstream, ResolverMetrics(registry, lambda: len(core.cache)), clock
    )
    return server, clock, registry


def metric(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_identical_misses_share_one_upstream_query() -> None:
    async def go() -> None:
        up = FakeUpstream("127.0.1.1")
        server, _, registry = make(ResolverSettings(), up)
        replies = await asyncio.gather(*(server.answer(query()) for _ in range(5)))
        assert len(up.calls) == 1
        assert {r.outcome for r in replies} == {Outcome.MISS}
        assert metric(registry, "dnslab_resolver_cache_misses_total") == 5

    asyncio.run(go())


def test_client_timeout_answers_stale_while_upstream_hangs() -> None:
    async def go() -> None:
        up = FakeUpstream("127.0.1.1", ttl=5)
        settings = ResolverSettings(serve_expired=True, serve_expired_client_timeout=50)
        server, clock, _ = make(settings, up)
        await server.answer(query())
        clock.advance(10)
        up.hang = True
        reply = await asyncio.wait_for(server.answer(query()), 2)
        assert reply.outcome is Outcome.STALE
        up.release.set()
        await server.settle()  # the upstream answer lands in the cache
        assert (await server.answer(query())).outcome is Outcome.HIT

    asyncio.run(go())


def test_upstream_failure_is_servfail_and_counted() -> None:
    async def go() -> None:
        server, _, registry = make(ResolverSettings(), FakeUpstream(fail="timeout"))
        wire = dns.message.make_query("www.lab.example.", "A").to_wire()
        out = await server.handle(wire, "127.2.0.1", None)
        assert out is not None
        assert dns.message.from_wire(out).rcode() == dns.rcode.SERVFAIL
        assert metric(registry, "dnslab_resolver_upstream_errors_total", kind="timeout") == 1
        assert metric(registry, "dnslab_resolver_queries_total", outcome="fail") == 1

    asyncio.run(go())


def test_prefetch_starts_one_background_refresh() -> None:
    async def go() -> None:
        up = FakeUpstream("127.0.1.1", ttl=100)
        server, clock, registry = make(ResolverSettings(prefetch=True), up)
        await server.answer(query())
        clock.advance(95)
        reply = await server.answer(query())
        assert reply.outcome is Outcome.HIT and reply.refresh is not None
        await server.settle()
        assert len(up.calls) == 2
        assert metric(registry, "dnslab_resolver_prefetches_total") == 1
        assert metric(registry, "dnslab_resolver_cache_hits_total") == 1

    asyncio.run(go())


def test_wire_ecs_echo_formerr_and_truncation() -> None:
    async def go() -> None:
        many = [f"127.0.{i}.{j}" for i in range(4) for j in range(1, 20)]
        server, _, _ = make(ResolverSettings(), FakeUpstream(*many))
        ecs = dns.edns.ECSOption("127.2.3.4", 24)
        q = dns.message.make_query("www.lab.example.", "A", use_edns=0, options=[ecs])
        out = await server.handle(q.to_wire(), "127.0.0.1", 65535)
        assert out is not None
        r = dns.message.from_wire(out)
        assert r.flags & dns.flags.RA and not r.flags & dns.flags.AA
        (echo,) = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
        assert (echo.address, echo.srclen, echo.scopelen) == ("127.2.3.0", 24, 16)
        plain = dns.message.make_query("www.lab.example.", "A")  # no EDNS: 512 bytes max
        small = await server.handle(plain.to_wire(), "127.9.0.1", None)
        assert small is not None and dns.message.from_wire(small).flags & dns.flags.TC
        assert await server.handle(b"\x12\x34", "127.0.0.1", None) is None
        formerr = await server.handle(
            b"\x12\x34" + b"\x01\x00" + b"\x00\x01" * 4, "127.0.0.1", None
        )
        assert formerr is not None and formerr[:2] == b"\x12\x34" and formerr[3] & 0xF == 1

    asyncio.run(go())


def test_responses_sent_to_us_are_dropped() -> None:
    async def go() -> None:
        server, _, _ = make(ResolverSettings(), FakeUpstream("127.0.1.1"))
        q = dns.message.make_query("www.lab.example.", "A")
        r = dns.message.make_response(q)
        assert await server.handle(r.to_wire(), "127.0.0.1", None) is None

    asyncio.run(go())


def test_lru_evictions_are_counted() -> None:
    async def go() -> None:
        server, _, registry = make(ResolverSettings(msg_cache_size=2), FakeUpstream("127.0.1.1"))
        for i in range(5):
            await server.answer(query(f"h{i}.lab.example."))
        assert metric(registry, "dnslab_resolver_cache_evictions_total") == 3
        assert metric(registry, "dnslab_resolver_cache_entries") == 2

    asyncio.run(go())


def test_summary_line_names_the_behaviour() -> None:
    from resolver.service import summary

    line = summary(ResolverSettings(serve_expired=True, serve_expired_client_timeout=1800))
    assert "like=unbound" in line and "serve-expired=after 1800 ms, ttl 30" in line
    assert "ecs=/24,/56" in line and "prefetch=off" in line
    assert "ecs=off" in summary(ResolverSettings.model_validate({"like": "bind"}))
