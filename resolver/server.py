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
import socket
import struct
import time
from collections.abc import Callable

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from lab.clock import Clock, SystemClock
from lab.udpbatch import Datagram, Reader
from resolver.access import AccessControl, Action
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
ALLOWED = frozenset(("allow", "allow_snoop", "allow_setrd"))  # may be answered from cache
UDP_BATCH = 64  # datagrams read per wake-up of the UDP socket
UDP_BUFFER = 4 * 1024 * 1024  # SO_RCVBUF/SO_SNDBUF asked for (the kernel caps it)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"dnslab {version('dnslab')}"
    except PackageNotFoundError:
        return "dnslab"


CHAOS_TXT: dict[str, Callable[[], str]] = {  # Unbound's hide-version / hide-identity "no"
    "version.bind.": _version,
    "version.server.": _version,
    "id.server.": socket.gethostname,
    "hostname.bind.": socket.gethostname,
}


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
        self.memo.on_prefetch = lambda r: self._refresh(with_purpose(r, Purpose.PREFETCH))
        self.memo_tcp = True  # answer repeated TCP queries from the memo too
        self.access = AccessControl(core.settings.access_control)
        self._inflight: dict[object, asyncio.Task[Reply]] = {}
        self._background: set[asyncio.Task[Reply]] = set()
        self._udp: socket.socket | None = None
        self._reader: Reader | None = None
        self._udp_tasks: set[asyncio.Task[None]] = set()
        self._tcp: asyncio.Server | None = None
        self._tcp_writers: set[asyncio.StreamWriter] = set()
        metrics.tcp_connections.set_function(lambda: float(len(self._tcp_writers)))
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
        """The stored reply to a repeated query that is still a fresh hit, else ``None``.
        The caller has checked the client's access-control action (any ``allow*``)."""
        out = self.memo.answer(self.memo.key(wire, client, max_size), wire, self.clock.now())
        if out is not None:
            self.metrics.fast_hits += 1
        return out

    async def handle(
        self, wire: bytes, client: str, max_size: int | None, action: Action | None = None
    ) -> bytes | None:
        """One client message in, one reply out (``None``: drop). ``max_size`` None = UDP.

        In order, as Unbound: access-control (deny: drop; refuse: a REFUSED header), messages
        that are responses (QR=1) or shorter than a header dropped, undecodable ones FORMERR,
        opcodes other than QUERY refused or NOTIMP, EDNS versions above 0 BADVERS, zone
        transfers and classes other than IN REFUSED (CHAOS TXT version.bind, version.server,
        id.server and hostname.bind answered locally), RD=0 REFUSED unless allow_snoop; the
        rest is resolved, and a UDP reply larger than min(client's EDNS size or 512,
        max-udp-size) goes out truncated (TC=1).
        """
        if action is None:
            action = self.access.action(client)
        if len(wire) < 12 or wire[2] & 0x80:
            self.metrics.rejected("response" if len(wire) >= 12 else "short")
            return None  # a response sent to us: never answer it (no loops, no reflection)
        if action == "deny":
            self.metrics.rejected("denied")
            return None
        if action == "refuse":
            self.metrics.rejected("refused")
            return _header_only(wire, dns.rcode.REFUSED)
        if max_size is None or self.memo_tcp:
            fast = self.fast(wire, client, max_size)
            if fast is not None:
                return fast
        opcode = (wire[2] >> 3) & 0x0F
        if opcode not in (dns.opcode.QUERY, dns.opcode.NOTIFY):
            self.metrics.rejected("opcode")
            return _header_only(wire, dns.rcode.NOTIMP)  # UPDATE too: parses as any client's
        try:
            msg = dns.message.from_wire(wire)
        except Exception:  # any undecodable input: FORMERR
            self.metrics.rejected("malformed")
            return _formerr(wire)
        if len(msg.question) != 1:
            self.metrics.rejected("malformed")
            return _error(msg, dns.rcode.FORMERR)
        if msg.edns > 0:
            self.metrics.rejected("badvers")
            return _error(msg, dns.rcode.BADVERS, recursion=True)
        q = msg.question[0]
        if opcode == dns.opcode.NOTIFY:
            self.metrics.rejected("opcode")
            return _error(msg, dns.rcode.REFUSED, recursion=True)
        if q.rdtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            self.metrics.rejected("transfer")
            return _error(msg, dns.rcode.REFUSED)
        if q.rdclass == dns.rdataclass.CH:
            return self._chaos(msg)
        if q.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY):
            self.metrics.rejected("class")
            return _error(msg, dns.rcode.REFUSED, recursion=True)
        recursive = bool(msg.flags & dns.flags.RD)
        if not recursive and action == "allow":
            self.metrics.rejected("rd0")  # Unbound: non-recursive queries refused
            return _error(msg, dns.rcode.REFUSED, recursion=True)
        query = Query(q.name, q.rdtype, q.rdclass, client, _client_ecs(msg))
        try:
            if recursive or action == "allow_setrd":
                reply = await self.answer(query)
            else:  # allow_snoop, RD=0: the cache only
                reply = self._from_cache(query)
        except Exception:
            log.exception("resolving %s failed", q.name)
            reply = Reply(SERVFAIL, Outcome.FAIL)
            self.metrics.answered(reply)
        udp_limit = max(512, msg.payload) if msg.edns >= 0 else 512
        limit = max_size or min(udp_limit, self.core.settings.max_udp_size)
        out = render(msg, reply, query.ecs, limit, set_rd=action == "allow_setrd")
        if reply.entry is not None and recursive:
            request = UpstreamRequest(q.name, q.rdtype, q.rdclass, self.core.upstream_subnet(query))
            key = self.memo.key(wire, client, max_size)
            self.memo.store(key, request, reply, out, self.clock.now())
        return out

    def _from_cache(self, query: Query) -> Reply:
        step = self.core.lookup(query, self.clock.now())
        if isinstance(step, Reply) and step.outcome is Outcome.HIT:
            reply = Reply(step.sections, Outcome.HIT, step.scope, entry=step.entry)
        else:
            reply = Reply(SERVFAIL, Outcome.FAIL)
        self.metrics.answered(reply)
        return reply

    def _chaos(self, msg: dns.message.Message) -> bytes:
        """CHAOS TXT version.bind/version.server and id.server/hostname.bind, as Unbound
        answers them (TTL 0); any other CHAOS question is REFUSED."""
        q = msg.question[0]
        text = CHAOS_TXT.get(q.name.to_text().lower()) if q.rdtype == dns.rdatatype.TXT else None
        if text is None:
            self.metrics.rejected("class")
            return _error(msg, dns.rcode.REFUSED, recursion=True)
        response = dns.message.make_response(msg)
        response.flags |= dns.flags.RA
        txt = dns.rdata.from_text(dns.rdataclass.CH, dns.rdatatype.TXT, f'"{text()}"')
        response.answer.append(dns.rrset.from_rdata(q.name, 0, txt))
        if msg.edns >= 0:
            response.use_edns(0, payload=1232)
        return response.to_wire(max_size=65535)

    async def start(self, host: str, port: int, reuse_port: bool = False) -> tuple[str, int]:
        """Listen on UDP and TCP; ``reuse_port`` (SO_REUSEPORT) lets --workers share the port.
        Returns the address bound (port 0 picks one)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, option, UDP_BUFFER)
            sock.bind((host, port))
            sock.setblocking(False)
            bound = sock.getsockname()
            self._tcp = await asyncio.start_server(
                self._tcp_client, host, bound[1], reuse_port=reuse_port
            )
        except BaseException:
            sock.close()
            raise
        self._udp = sock
        self._reader = reader = Reader(sock, self._answer_udp, self._send_buffer_full, UDP_BATCH)
        loop.add_reader(sock.fileno(), reader.readable)
        self._purger = asyncio.create_task(self._purge_every(PURGE_INTERVAL))
        return str(bound[0]), int(bound[1])

    # -- UDP: every datagram waiting per wake-up (lab.udpbatch.Reader), hits without a task ------
    def _answer_udp(self, queries: list[Datagram]) -> list[bytes | None]:
        """One wake-up's datagrams: hits answered here (the reply in the list), the rest in
        tasks that send their own reply (None in the list). One clock reading per wake-up, as
        Unbound reads its time once per event."""
        action_of, memo = self.access.action, self.memo
        now = self.clock.now()
        replies: list[bytes | None] = []
        append = replies.append
        hits = 0
        for data, addr in queries:
            client = addr[0]
            action = action_of(client)
            if action in ALLOWED and len(data) >= 12:
                out = memo.answer(memo.key(data, client, None), data, now)
                if out is not None:
                    hits += 1
                    append(out)
                    continue
            task = asyncio.create_task(self._udp_reply(data, addr, action))
            self._udp_tasks.add(task)
            task.add_done_callback(self._udp_tasks.discard)
            append(None)
        self.metrics.fast_hits += hits
        return replies

    def _send_buffer_full(self, n: int) -> None:
        for _ in range(n):
            self.metrics.rejected("send_buffer_full")  # dropped, as UDP may

    async def _udp_reply(self, data: bytes, addr: tuple[str, int], action: Action) -> None:
        out = await self.handle(data, addr[0], None, action)
        if out is not None and self._reader is not None:
            self._reader.send(out, addr)

    async def _purge_every(self, seconds: float) -> None:
        """Drop entries that can no longer be served, so memory and the entries gauge follow."""
        while True:
            await asyncio.sleep(seconds)
            self.core.cache.purge(self.clock.now())

    async def close(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        if self._udp is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._udp.fileno())
            self._udp.close()
            self._udp = None
            self._reader = None
        if self._tcp is not None:
            self._tcp.close()
            for writer in list(self._tcp_writers):
                writer.close()
            await self._tcp.wait_closed()
        for task in [*self._inflight.values(), *self._udp_tasks]:
            task.cancel()

    # -- TCP -----------------------------------------------------------------------------------
    def tcp_timeout(self) -> float:
        """Seconds a connection gets for its next whole query: tcp-idle-timeout, cut as the
        slots fill up (Unbound: below 50 % free 1 %, below 35 % 0.2 %, below 20 % 0; at least
        200 ms)."""
        s = self.core.settings
        limit = s.incoming_num_tcp
        free = (limit - len(self._tcp_writers)) / limit if limit else 0.0
        ms = float(s.tcp_idle_timeout)
        if free < 0.2:
            ms = 0.0
        elif free < 0.35:
            ms *= 0.002
        elif free < 0.5:
            ms *= 0.01
        return max(ms, 200.0) / 1000

    async def _tcp_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0])
        action = self.access.action(client)
        if action == "deny" or len(self._tcp_writers) >= self.core.settings.incoming_num_tcp:
            self.metrics.rejected("denied" if action == "deny" else "tcp_limit")
            writer.close()
            return
        self._tcp_writers.add(writer)
        try:
            while True:  # one query after another, each whole within its deadline
                async with asyncio.timeout(self.tcp_timeout()):
                    header = await reader.readexactly(2)
                    (length,) = struct.unpack("!H", header)
                    body = await reader.readexactly(length)
                out = await self.handle(body, client, 65535, action)
                if out is not None:
                    writer.write(struct.pack("!H", len(out)) + out)
                    async with asyncio.timeout(self.tcp_timeout()):
                        await writer.drain()
        except TimeoutError:
            self.metrics.rejected("tcp_timeout")
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._tcp_writers.discard(writer)
            writer.close()


def _client_ecs(msg: dns.message.Message) -> ClientSubnet | None:
    for option in msg.options:
        if isinstance(option, dns.edns.ECSOption):
            with contextlib.suppress(ValueError):
                return ClientSubnet.from_text(option.address, option.srclen)
    return None


def render(
    query: dns.message.Message,
    reply: Reply,
    client_ecs: ClientSubnet | None,
    limit: int,
    set_rd: bool = False,
) -> bytes:
    response = dns.message.make_response(query)
    response.flags |= dns.flags.RA | (dns.flags.RD if set_rd else 0)
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


def _error(msg: dns.message.Message, rcode: int, recursion: bool = False) -> bytes:
    """``rcode`` with the question echoed (and OPT if the query had one); RA if ``recursion``."""
    response = dns.message.make_response(msg)
    if recursion:
        response.flags |= dns.flags.RA
    if msg.edns >= 0:
        response.use_edns(0, payload=1232)
    response.set_rcode(dns.rcode.Rcode(rcode))
    return response.to_wire(max_size=65535)


def _header_only(wire: bytes, rcode: int) -> bytes:
    """A 12-byte reply: the query's ID, opcode and RD, QR set, ``rcode``, no sections (what
    Unbound sends for access-control refuse; any client parses it)."""
    flags = (wire[2] & 0x79) << 8 | 0x8000 | rcode  # opcode and RD kept
    return wire[:2] + struct.pack("!HHHHH", flags, 0, 0, 0, 0)


def _formerr(wire: bytes) -> bytes | None:
    if len(wire) < 12:
        return None
    return _header_only(wire, dns.rcode.FORMERR)
