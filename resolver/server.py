"""The resolver's asyncio shell: UDP+TCP listener, upstream calls, timers. No decisions here.

Per client query: decode → ``core.lookup`` → answer from cache, or ask upstream (one in-flight
query per identical request, shared by every client waiting for it) and race it against the
serve-expired client timeout → encode. Background refreshes (prefetch, after stale) run as
tasks whose results only update the cache. Anything unexpected becomes SERVFAIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from typing import cast

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode

from lab.clock import Clock, SystemClock
from resolver.answers import Sections
from resolver.core import (
    Outcome,
    Purpose,
    Query,
    Reply,
    ResolverCore,
    UpstreamRequest,
    with_purpose,
)
from resolver.ecs import ClientSubnet
from resolver.metrics import ResolverMetrics
from resolver.upstream import UpstreamClient, UpstreamError
from resolver.wirememo import WireMemo

log = logging.getLogger("dnslab.resolver")
SERVFAIL = Sections(int(dns.rcode.SERVFAIL), (), (), ())
PURGE_INTERVAL = 5.0  # seconds between sweeps of expired, unservable entries


class WallPhaseClock:
    """Monotonic, but its whole seconds tick with the wall clock's, as Unbound's ``time(0)`` do.

    For ``ttl-clock = "seconds"``: two resolvers that count whole seconds agree on TTLs and
    expiry only if their seconds start at the same instants. The offset is taken once, so a
    wall-clock step later does not move cache ages (Unbound's would).
    """

    def __init__(self) -> None:
        self._offset = time.time() - time.monotonic()

    def now(self) -> float:
        return time.monotonic() + self._offset


class ResolverServer:
    def __init__(
        self,
        core: ResolverCore,
        upstream: UpstreamClient,
        metrics: ResolverMetrics,
        clock: Clock | None = None,
    ) -> None:
        self.core = core
        self.upstream = upstream
        self.metrics = metrics
        self.clock = clock or SystemClock()
        self.memo = WireMemo(core)
        self._inflight: dict[object, asyncio.Task[Reply]] = {}
        self._background: set[asyncio.Task[Reply]] = set()
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._purger: asyncio.Task[None] | None = None

    # -- resolution ----------------------------------------------------------------------------
    async def answer(self, query: Query) -> Reply:
        """The reply for one client query (counted in the metrics)."""
        reply = await self._answer(query)
        self.metrics.answered(reply)
        return reply

    async def _answer(self, query: Query) -> Reply:
        step = self.core.lookup(query, self.clock.now())
        if isinstance(step, Reply):
            if step.refresh is not None:
                self._refresh(step.refresh)
            return step
        self.metrics.misses.inc()
        task = self._ask(step.request)
        if step.stale_at is None:
            return await asyncio.shield(task)
        wait = max(0.0, step.stale_at - self.clock.now())
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(task), wait)
        stale = self.core.on_client_timeout(step.request, self.clock.now())
        return stale if stale is not None else await asyncio.shield(task)

    def _ask(self, request: UpstreamRequest) -> asyncio.Task[Reply]:
        task = self._inflight.get(request.key)
        if task is None:
            task = asyncio.create_task(self._resolve(request))
            self._inflight[request.key] = task
            key = request.key
            task.add_done_callback(lambda _t: self._inflight.pop(key, None))
        return task

    async def settle(self) -> None:
        """Wait until every upstream query in flight (client, prefetch, refresh) has landed."""
        while self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    def _refresh(self, request: UpstreamRequest) -> None:
        if request.key in self._inflight:
            return
        self.metrics.prefetches.inc()
        task = self._ask(request)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _resolve(self, request: UpstreamRequest) -> Reply:
        try:
            response, took = await self.upstream.resolve(request)
        except UpstreamError as exc:
            self.metrics.errors.labels(exc.kind).inc()
            return self.core.on_upstream_failure(request, exc.kind, self.clock.now())
        except Exception:  # a surprise must not leave waiting clients (or a prefetch) hanging
            log.exception("upstream query for %s failed", request.qname)
            self.metrics.errors.labels("malformed").inc()
            return self.core.on_upstream_failure(request, "malformed", self.clock.now())
        self.metrics.latency.observe(took)
        evicted = self.core.cache.evictions
        reply = self.core.on_upstream(request, response, self.clock.now())
        self.metrics.evictions.inc(self.core.cache.evictions - evicted)
        if reply.upstream_error is not None:
            self.metrics.errors.labels(reply.upstream_error).inc()
        return reply

    # -- wire ----------------------------------------------------------------------------------
    def fast(self, wire: bytes, client: str, max_size: int | None) -> bytes | None:
        """The memoised reply to a repeated query that is still a fresh hit, else ``None``."""
        found = self.memo.lookup(self.memo.key(wire, client, max_size), self.clock.now())
        if found is None:
            return None
        memo, hit = found
        if hit.prefetch:
            self._refresh(with_purpose(memo.request, Purpose.PREFETCH))
        self.metrics.count(Outcome.HIT)
        return wire[:2] + memo.body

    async def handle(self, wire: bytes, client: str, max_size: int | None) -> bytes | None:
        """One client message in, one reply out (``None``: drop). ``max_size`` None = UDP."""
        fast = self.fast(wire, client, max_size)
        if fast is not None:
            return fast
        try:
            msg = dns.message.from_wire(wire)
        except Exception:  # any undecodable input: FORMERR if we can, else drop
            return _formerr(wire)
        if msg.flags & dns.flags.QR:
            return None  # a response sent to us: never answer it (no loops, no reflection)
        if msg.opcode() != dns.opcode.QUERY or len(msg.question) != 1:
            return _error(msg, dns.rcode.NOTIMP if len(msg.question) == 1 else dns.rcode.FORMERR)
        q = msg.question[0]
        query = Query(q.name, q.rdtype, q.rdclass, client, _client_ecs(msg))
        try:
            reply = await self.answer(query)
        except Exception:
            log.exception("resolving %s failed", q.name)
            reply = Reply(SERVFAIL, Outcome.FAIL)
            self.metrics.answered(reply)
        limit = max_size or (max(512, msg.payload) if msg.edns >= 0 else 512)
        out = render(msg, reply, query.ecs, limit)
        if reply.entry is not None and not out[2] & 0x02:  # never memoise a truncated reply
            request = UpstreamRequest(q.name, q.rdtype, q.rdclass, self.core.upstream_subnet(query))
            self.memo.store(self.memo.key(wire, client, max_size), request, reply, out)
        return out

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self), local_addr=(host, port)
        )
        self._tcp = await asyncio.start_server(self._tcp_client, host, port)
        self._purger = asyncio.create_task(self._purge_every(PURGE_INTERVAL))

    async def _purge_every(self, seconds: float) -> None:
        """Drop entries that can no longer be served, so memory and the entries gauge follow."""
        while True:
            await asyncio.sleep(seconds)
            self.core.cache.purge(self.clock.now())

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for task in list(self._inflight.values()):
            task.cancel()

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        idle = self.core.settings.tcp_idle_timeout / 1000
        try:
            while True:  # one query after another; close when idle (no slowloris)
                header = await asyncio.wait_for(reader.readexactly(2), idle)
                (length,) = struct.unpack("!H", header)
                body = await asyncio.wait_for(reader.readexactly(length), idle)
                out = await self.handle(body, peer[0], 65535)
                if out is not None:
                    writer.write(struct.pack("!H", len(out)) + out)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: ResolverServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        fast = self.server.fast(data, str(addr[0]), None)
        if fast is not None and self.transport is not None:
            self.transport.sendto(fast, addr)
            return
        task = asyncio.create_task(self._reply(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _reply(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        out = await self.server.handle(data, str(addr[0]), None)
        if out is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(out, addr)


def _client_ecs(msg: dns.message.Message) -> ClientSubnet | None:
    for option in msg.options:
        if isinstance(option, dns.edns.ECSOption):
            with contextlib.suppress(ValueError):
                return ClientSubnet.from_text(option.address, option.srclen)
    return None


def render(
    query: dns.message.Message, reply: Reply, client_ecs: ClientSubnet | None, limit: int
) -> bytes:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA
    response.set_rcode(dns.rcode.Rcode(reply.rcode))
    response.answer = list(reply.sections.answer)
    response.authority = list(reply.sections.authority)
    response.additional = list(reply.sections.additional)
    if query.edns >= 0:
        options: list[dns.edns.Option] = []
        if client_ecs is not None:
            scope = min(reply.scope.prefix, client_ecs.source)
            options.append(dns.edns.ECSOption(client_ecs.address_text(), client_ecs.source, scope))
        response.use_edns(0, payload=1232, options=options)
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer, response.authority, response.additional = [], [], []
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)


def _error(msg: dns.message.Message, rcode: int) -> bytes:
    response = dns.message.make_response(msg)
    response.set_rcode(dns.rcode.Rcode(rcode))
    return response.to_wire()


def _formerr(wire: bytes) -> bytes | None:
    if len(wire) < 12:
        return None
    flags = (wire[2] & 0x78) << 8 | 0x8000 | dns.rcode.FORMERR  # QR, same opcode
    return wire[:2] + struct.pack("!HHHHH", flags, 0, 0, 0, 0)
