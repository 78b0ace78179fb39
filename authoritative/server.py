"""The network shell: UDP and TCP on the same port under uvloop, feeding :class:`Engine`.

TCP: 2-byte length framing, several (pipelined) queries per connection answered in order;
an idle timeout between messages and a per-message deadline that trickled bytes cannot extend
(Knot's tcp-idle-timeout / tcp-io-timeout), a bound on concurrent connections (at the bound
the oldest idle one is closed for the newcomer) and on connections per source address.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from dataclasses import dataclass
from functools import partial
from typing import cast

from authoritative.engine import Engine
from authoritative.request import UDP
from authoritative.rrl import RateLimiter, slipped
from authoritative.settings import RrlSettings, ServerSettings
from authoritative.state import ServingState
from authoritative.workers import Pool
from lab import udpbatch
from lab.stopping import stop_on_signals
from lab.udpbatch import Datagram


@dataclass(frozen=True)
class ServerLimits:
    tcp_idle_timeout: float = 10.0  # no whole message for this long: closed
    tcp_io_timeout: float = 0.5  # one message, from its first byte to its last: never extended
    tcp_max_connections: int = 256
    tcp_max_per_source: int = 64
    tcp_max_message: int = 65535
    udp_buffer: int = 4 * 1024 * 1024  # SO_RCVBUF/SO_SNDBUF asked for (the kernel caps it)
    rrl: RrlSettings | None = None  # response rate limiting over UDP (off by default)

    @classmethod
    def from_settings(cls, settings: ServerSettings) -> ServerLimits:
        return cls(
            tcp_idle_timeout=settings.tcp_idle_timeout,
            tcp_io_timeout=settings.tcp_io_timeout,
            tcp_max_connections=settings.tcp_max_connections,
            tcp_max_per_source=settings.tcp_max_per_source,
            rrl=settings.rrl,
        )


UDP_BATCH = 64  # datagrams read per wake-up of the UDP socket


class UdpReader(udpbatch.Reader):
    """The UDP socket (``lab.udpbatch.Reader``: every datagram waiting, up to ``UDP_BATCH``
    per wake-up, one ``recvmmsg``/``sendmmsg`` with the C extension built, else
    ``recvfrom``/``sendto``), answered together by ``Engine.answer_all``; RRL, when
    configured, decides per reply (no cost when it is not). A reply dropped because the send
    buffer was full is counted in ``udp_send_dropped``."""

    def __init__(
        self,
        sock: socket.socket,
        engine: Engine,
        rrl: RateLimiter | None,
        batched: bool | None = None,
    ) -> None:
        self.engine = engine
        self.metrics = engine.metrics
        self.rrl = rrl
        answer = partial(engine.answer_all, transport=UDP) if rrl is None else self._limited
        super().__init__(sock, answer, self._full, UDP_BATCH, batched)

    def _full(self, n: int) -> None:
        self.metrics.udp_send_dropped += n

    def _limited(self, queries: list[Datagram]) -> list[bytes | None]:
        """The engine's replies under response rate limiting, reply by reply."""
        assert self.rrl is not None
        replies = self.engine.answer_all(queries, UDP)
        decide = self.rrl.decide
        now = time.monotonic()
        for i, reply in enumerate(replies):
            if reply is not None:
                decision = decide(reply, queries[i][1][0], now)
                if decision == "slip":
                    replies[i] = slipped(reply)
                elif decision != "send":
                    replies[i] = None
        return replies


class TcpProtocol(asyncio.Protocol):
    """One client connection. Two timers, as Knot's ``tcp-idle-timeout`` / ``tcp-io-timeout``:

    * idle: armed at connect and after each whole message; partial data does not re-arm it;
    * io: armed when the first byte of a message arrives (or a reply cannot be written) and
      cancelled only when that message is complete: trickling bytes cannot extend it.
    """

    def __init__(self, server: AuthoritativeServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.idle: asyncio.TimerHandle | None = None
        self.io: asyncio.TimerHandle | None = None
        self.writing_paused = False
        self.counted = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        reason = self.server.admit(self)
        if reason is not None:
            self.server.engine.metrics.tcp_closed[reason] += 1
            transport.close()
            return
        self.counted = True
        self._arm_idle()

    def _arm_idle(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(self.server.limits.tcp_idle_timeout, self.expire, "idle")

    def _arm_io(self) -> None:
        if self.io is None:
            loop = asyncio.get_running_loop()
            self.io = loop.call_later(self.server.limits.tcp_io_timeout, self.expire, "io_timeout")

    def _cancel_io(self) -> None:
        if self.io is not None:
            self.io.cancel()
            self.io = None

    @property
    def busy(self) -> bool:
        """Mid-message or with a reply stuck: not a candidate for eviction."""
        return bool(self.buffer) or self.writing_paused

    def expire(self, reason: str) -> None:
        self.server.engine.metrics.tcp_closed[reason] += 1
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        engine = self.server.engine
        out = []
        buf = self.buffer
        done = 0
        while len(buf) >= 2:
            size = buf[0] << 8 | buf[1]
            if len(buf) < 2 + size:
                break
            message = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            done += 1
            for reply in engine.handle_stream(message, self.peer):
                out.append(len(reply).to_bytes(2, "big") + reply)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        if done:  # a whole message: the idle period starts again, the next message's io too
            self._cancel_io()
            self._arm_idle()
        if buf:
            self._arm_io()

    def pause_writing(self) -> None:  # the client does not read its replies
        self.writing_paused = True
        if self.transport is not None:
            self.transport.pause_reading()
        self._arm_io()

    def resume_writing(self) -> None:
        self.writing_paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()
        if not self.buffer:
            self._cancel_io()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self._cancel_io()
        if self.counted:
            self.counted = False
            self.server.release(self)


class AuthoritativeServer:
    def __init__(self, engine: Engine, limits: ServerLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or ServerLimits()
        self.connections: dict[TcpProtocol, None] = {}  # in the order they were accepted
        self.per_source: dict[str, int] = {}
        engine.metrics.tcp_open = lambda: len(self.connections)
        self.rrl = None if self.limits.rrl is None else RateLimiter(self.limits.rrl)
        engine.metrics.rrl = self.rrl
        self.udp: UdpReader | None = None
        self.tcp: asyncio.Server | None = None

    def admit(self, conn: TcpProtocol) -> str | None:
        """Take ``conn`` in, or say why not. At the global limit the oldest idle connection
        makes room (an idle slot is worth less than a new client); a source at its own limit
        is refused."""
        limits = self.limits
        source = conn.peer[0]
        if self.per_source.get(source, 0) >= limits.tcp_max_per_source:
            return "per_source_limit"
        if len(self.connections) >= limits.tcp_max_connections:
            victim = next((c for c in self.connections if not c.busy), None)
            if victim is None:
                return "connection_limit"
            self.engine.metrics.tcp_closed["evicted_idle"] += 1
            self.release(victim)
            victim.close()
        self.connections[conn] = None
        self.per_source[source] = self.per_source.get(source, 0) + 1
        return None

    def release(self, conn: TcpProtocol) -> None:
        if self.connections.pop(conn, False) is None:
            conn.counted = False
            source = conn.peer[0]
            left = self.per_source.get(source, 1) - 1
            if left > 0:
                self.per_source[source] = left
            else:
                self.per_source.pop(source, None)

    def swap(self, state: ServingState) -> None:
        """Serve ``state`` from the very next query on (one assignment; the cache is dropped)."""
        self.engine.swap(state)

    @property
    def state(self) -> ServingState:
        return self.engine.state

    async def start(self, host: str, port: int, reuse_port: bool = False) -> tuple[str, int]:
        """Listen on UDP and TCP; ``reuse_port`` (SO_REUSEPORT) lets --workers share the port."""
        loop = asyncio.get_running_loop()
        self.tcp = await loop.create_server(
            lambda: TcpProtocol(self), host, port, reuse_address=True, reuse_port=reuse_port or None
        )
        bound = self.tcp.sockets[0].getsockname()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            # a burst of queries must wait in the kernel, not be dropped (the default is ~200 KB)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.limits.udp_buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.udp_buffer)
            sock.bind((host, int(bound[1])))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self.udp = UdpReader(sock, self.engine, self.rrl)
        loop.add_reader(sock.fileno(), self.udp.readable)
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        if self.udp is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self.udp.fd)
            self.udp.sock.close()
            self.udp = None
        if self.tcp is not None:
            self.tcp.close()
            for conn in list(self.connections):
                conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.tcp.wait_closed(), 2.0)


async def serve_until_signal(
    server: AuthoritativeServer, host: str, port: int, what: str, pool: Pool | None = None
) -> None:
    """Start, print ``ready <what> <addr>``, serve until SIGTERM/SIGINT, then close the sockets.
    With ``pool`` (--workers): ready once every worker is; they are stopped with us."""
    loop = asyncio.get_running_loop()
    stop = stop_on_signals("dnslab authoritative")
    bound_host, bound_port = await server.start(host, port, reuse_port=pool is not None)
    if pool is not None:
        await pool.serving(loop, stop)
    print(f"ready {what} {bound_host}:{bound_port}{workers_note(pool)}", flush=True)
    await stop.wait()
    await server.stop()
    if pool is not None:
        pool.finish()


def workers_note(pool: Pool | None) -> str:
    if pool is None:
        return ""
    pids = " ".join(str(w.pid) for w in pool.workers)
    return f" workers {len(pool.workers) + 1} (pids {os.getpid()} {pids})"
