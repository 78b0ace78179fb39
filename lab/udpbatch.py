"""The optional C extension ``lab._udpbatch`` (recvmmsg/sendmmsg), for the UDP servers.

``make install`` builds it where a C compiler and the Python headers are (setup.py,
``optional=True``); elsewhere the servers read and send one datagram per call, with the same
behaviour. ``DNSLAB_UDPBATCH=0`` in the environment turns the extension off (a comparison, or
a kernel without recvmmsg). Measured side by side: docs/benchmarks.md ("udpfast").
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

try:
    from lab._udpbatch import Batch
except ImportError:  # not built here: the pure-Python path serves
    Batch = None  # type: ignore[assignment,misc]

AVAILABLE = Batch is not None


def make(slots: int, batched: bool | None = None) -> Batch | None:
    """A batch of ``slots`` datagrams, or None for the pure-Python path. ``batched``: None =
    the extension when built and not turned off by ``DNSLAB_UDPBATCH=0``; False = never;
    True = required (ImportError if not built)."""
    if batched is None:
        batched = Batch is not None and os.environ.get("DNSLAB_UDPBATCH", "1") != "0"
    if not batched:
        return None
    if Batch is None:
        raise ImportError("lab._udpbatch is not built (make install needs gcc and python3-dev)")
    return Batch(slots)


Datagram = tuple[bytes, tuple[str, int]]


class Reader:
    """A UDP server socket read from the event loop (``add_reader(sock, reader.readable)``):
    every datagram waiting, up to ``slots`` per wake-up, goes to ``answer`` in one call (one
    reply or None per datagram, in order), then the replies are sent to their senders. With
    the extension: one ``recvmmsg`` and one ``sendmmsg``; without: ``recvfrom``/``sendto`` per
    datagram. A reply the send buffer has no room for is dropped (UDP may drop; the kernel
    would) and counted through ``on_full(n)``; an error queued on the socket (ICMP) or a reply
    the kernel refuses is skipped: a packet never stops the server. The socket must be
    non-blocking."""

    def __init__(
        self,
        sock: socket.socket,
        answer: Callable[[list[Datagram]], list[bytes | None]],
        on_full: Callable[[int], None],
        slots: int = 64,
        batched: bool | None = None,
    ) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.answer = answer
        self.on_full = on_full
        self.slots = slots
        self.batch = make(slots, batched)
        self.readable: Callable[[], None] = self._python if self.batch is None else self._batched

    def _batched(self) -> None:
        batch = self.batch
        assert batch is not None
        try:
            queries = batch.recv(self.fd)
        except OSError:  # nothing waiting, or an ICMP error queued on the socket (now read)
            return
        full = batch.send(self.fd, self.answer(queries))
        if full:
            self.on_full(full)

    def _python(self) -> None:
        recvfrom = self.sock.recvfrom
        queries: list[Datagram] = []
        append = queries.append
        for _ in range(self.slots):
            try:
                append(recvfrom(65535))
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # e.g. an ICMP error queued on the socket: nothing to answer
        if not queries:
            return
        replies = self.answer(queries)
        sendto = self.sock.sendto
        full = 0
        for (_, addr), reply in zip(queries, replies, strict=True):
            if reply is not None:
                full += _dropped(sendto, reply, addr)
        if full:
            self.on_full(full)

    def send(self, reply: bytes, addr: tuple[str, int]) -> None:
        """Send one reply that was not ready in its wake-up (``answer`` gave None for it and
        answered later, e.g. after an upstream query), by the same rule as the batch."""
        if _dropped(self.sock.sendto, reply, addr):
            self.on_full(1)


def _dropped(
    sendto: Callable[[bytes, tuple[str, int]], int], reply: bytes, addr: tuple[str, int]
) -> int:
    """Send ``reply``; 1 if the send buffer had no room (dropped, as UDP may), else 0. Any other
    error the kernel reports for this one reply (a closed socket, an unreachable address) is
    skipped: a reply never stops the server."""
    try:
        sendto(reply, addr)
    except (BlockingIOError, InterruptedError):
        return 1
    except OSError:
        pass
    return 0
