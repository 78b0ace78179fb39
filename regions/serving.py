"""Serve an ASGI app with uvicorn on sockets we own, so listeners can be closed and reopened.

``uvicorn.Server.serve`` owns its sockets and signals; a region needs more: the ``down`` fault
closes the listening socket for real (new connections are refused) and later reopens it on
the same address, while the process and its control port stay up. ``Serving`` drives the
public ``startup``/``main_loop``/``shutdown`` steps of ``uvicorn.Server`` and adds listeners
with the same protocol factory uvicorn uses. Also used by the health checker.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from typing import Any

import uvicorn

from lab.errors import ConfigError

ABORT_AFTER = 0.5  # seconds an in-flight response may take after its listener closed


def parse_hostport(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{flag}: expected HOST:PORT such as 127.0.0.1:8080, got {text!r}")
    return host, int(port)


def bind(host: str, port: int, flag: str = "--listen") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"{flag} {host}:{port}: cannot bind: {exc.strerror}") from exc
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Serving:
    """One uvicorn server, any number of listeners, each closable by address."""

    def __init__(self, app: Any, log_level: str = "warning") -> None:
        self.config = uvicorn.Config(
            app,
            lifespan="off",
            log_level=log_level,
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        self.config.load()
        self.server = uvicorn.Server(self.config)
        self.server.lifespan = self.config.lifespan_class(self.config)
        self._listeners: dict[tuple[str, int], asyncio.base_events.Server] = {}
        self._tls: dict[tuple[str, int], ssl.SSLContext] = {}
        self._main_loop: asyncio.Task[None] | None = None

    def _protocol(self, _loop: asyncio.AbstractEventLoop | None = None) -> asyncio.Protocol:
        srv = self.server
        return self.config.http_protocol_class(  # type: ignore[call-arg]
            config=self.config,
            server_state=srv.server_state,
            app_state=srv.lifespan.state,
            _loop=_loop,
        )

    async def start(self) -> None:
        await self.server.startup(sockets=[])
        self._main_loop = asyncio.create_task(self.server.main_loop())

    async def open(
        self,
        addr: tuple[str, int],
        sock: socket.socket | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """Listen on ``addr`` (or on the already bound ``sock``); a reopen keeps its TLS."""
        if addr in self._listeners:
            return
        if tls is not None:
            self._tls[addr] = tls
        sock = sock if sock is not None else bind(*addr)
        loop = asyncio.get_running_loop()
        srv = await loop.create_server(
            self._protocol, sock=sock, backlog=1024, ssl=self._tls.get(addr)
        )
        self._listeners[addr] = srv
        self.server.servers.append(srv)

    def close(self, addr: tuple[str, int], drop_connections: bool = True) -> None:
        """Close the listener on ``addr`` (connects are refused) and its open connections."""
        srv = self._listeners.pop(addr, None)
        if srv is None:
            return
        srv.close()
        with contextlib.suppress(ValueError):
            self.server.servers.remove(srv)
        if not drop_connections:
            return
        doomed = []
        for conn in list(self.server.server_state.connections):
            transport = getattr(conn, "transport", None)
            if transport is not None and transport.get_extra_info("sockname")[:2] == addr:
                conn.shutdown()  # idle keep-alive: closed now; in flight: after its response
                doomed.append(transport)

        def abort() -> None:  # requests still unanswered (e.g. under 'hang') are cut
            for transport in doomed:
                if not transport.is_closing():
                    transport.abort()

        asyncio.get_running_loop().call_later(ABORT_AFTER, abort)

    def is_open(self, addr: tuple[str, int]) -> bool:
        return addr in self._listeners

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._main_loop is not None:
            await self._main_loop
        for srv in self._listeners.values():
            srv.close()
        await self.server.shutdown()
        self._listeners.clear()


def server_tls(cert: str, key: str) -> ssl.SSLContext:
    """A server TLS context from PEM files; a ``ConfigError`` naming the flag if they do not load."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        ctx.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--tls-cert {cert} / --tls-key {key}: cannot load: {exc}") from None
    return ctx
