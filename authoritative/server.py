"""The network shell: UDP and TCP on the same port under uvloop, feeding :class:`Engine`.

TCP: 2-byte length framing, several (pipelined) queries per connection answered in order,
an idle timeout, and a bound on concurrent connections (new ones are closed beyond it).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from dataclasses import dataclass
from typing import cast

from authoritative.engine import Engine
from authoritative.request import TCP, UDP
from authoritative.state import ServingState


@dataclass(frozen=True)
class ServerLimits:
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 256
    tcp_max_message: int = 65535
    udp_buffer: int = 4 * 1024 * 1024  # SO_RCVBUF/SO_SNDBUF asked for (the kernel caps it)


class UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.handle = engine.handle  # the engine object lives as long as the server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass
        self.sendto = self.transport.sendto

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.handle(data, UDP, addr)
        if reply is not None:
            self.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:  # ICMP errors: nothing to do
        pass


class TcpProtocol(asyncio.Protocol):
    def __init__(self, server: AuthoritativeServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer: tuple[str, int] = ("", 0)
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.peer = (str(peer[0]), int(peer[1])) if peer else ("", 0)
        if len(self.server.connections) >= self.server.limits.tcp_max_connections:
            transport.close()
            return
        self.server.connections.add(self)
        self._arm()

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(self.server.limits.tcp_idle_timeout, self.close)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        engine = self.server.engine
        out = []
        buf = self.buffer
        while len(buf) >= 2:
            size = buf[0] << 8 | buf[1]
            if len(buf) < 2 + size:
                break
            message = bytes(buf[2 : 2 + size])
            del buf[: 2 + size]
            reply = engine.handle(message, TCP, self.peer)
            if reply is not None:
                out.append(len(reply).to_bytes(2, "big") + reply)
        if out and self.transport is not None:
            self.transport.write(b"".join(out))
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.server.connections.discard(self)


class AuthoritativeServer:
    def __init__(self, engine: Engine, limits: ServerLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or ServerLimits()
        self.connections: set[TcpProtocol] = set()
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None

    def swap(self, state: ServingState) -> None:
        """Serve ``state`` from the very next query on (one assignment; the cache is dropped)."""
        self.engine.swap(state)

    @property
    def state(self) -> ServingState:
        return self.engine.state

    async def start(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        self.tcp = await loop.create_server(
            lambda: TcpProtocol(self), host, port, reuse_address=True
        )
        bound = self.tcp.sockets[0].getsockname()
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            # a burst of queries must wait in the kernel, not be dropped (the default is ~200 KB)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.limits.udp_buffer)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.limits.udp_buffer)
            sock.bind((host, int(bound[1])))
        except OSError:
            sock.close()
            raise
        transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpProtocol(self.engine), sock=sock
        )
        self.udp = transport
        return str(bound[0]), int(bound[1])

    async def stop(self) -> None:
        if self.udp is not None:
            self.udp.close()
        if self.tcp is not None:
            self.tcp.close()
            for conn in list(self.connections):
                conn.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.tcp.wait_closed(), 2.0)


async def serve_until_signal(server: AuthoritativeServer, host: str, port: int, what: str) -> None:
    """Start, print ``ready <what> <addr>``, serve until SIGTERM/SIGINT, then close the sockets."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    bound_host, bound_port = await server.start(host, port)
    print(f"ready {what} {bound_host}:{bound_port}", flush=True)
    await stop.wait()
    await server.stop()
