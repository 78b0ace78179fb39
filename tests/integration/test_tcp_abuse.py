"""Issue 13 finding 5: TCP could be locked for everyone by connections trickling partial data.

Before: 256 connections each sending one byte every 3 s kept the authoritative server's TCP
closed to all clients for 24 s, past the 10 s idle timeout, because partial data re-armed the
timer. Now a message must arrive whole within ``--tcp-io-timeout`` of its first byte (Knot's
``tcp-io-timeout``), partial data never re-arms the idle timer, and one address may hold at
most ``--tcp-max-per-source`` connections. Real ``dnslab authoritative`` processes; the
attackers come from other loopback addresses than the client that must stay served.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from lab.procs import ProcessGroup, wait_for
from tests.integration.diff_cases import query
from tests.integration.dnsdiff import recv_exact
from tests.integration.knot import Endpoint
from tests.integration.servers import ZONES, start_dnslab

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IO_TIMEOUT = 0.5
IDLE_TIMEOUT = 3.0
ATTACKERS = 256  # = --tcp-max-connections: every slot taken
SOURCES = 32  # 8 connections each, under the per-source limit of 16
NORMAL = query("www.example.com.", "A")
FRAMED = struct.pack("!H", len(NORMAL)) + NORMAL


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    group = ProcessGroup(log_dir=tmp_path_factory.mktemp("tcp-abuse") / "logs")
    extra = (
        "--tcp-io-timeout",
        str(IO_TIMEOUT),
        "--tcp-idle-timeout",
        str(IDLE_TIMEOUT),
        "--tcp-max-connections",
        str(ATTACKERS),
        "--tcp-max-per-source",
        "16",
    )
    try:
        yield start_dnslab(group, ZONES[:1], extra=extra)
    finally:
        group.stop_all()


def tcp_query(server: Endpoint, timeout: float = 1.0) -> bool:
    """One whole query over a fresh connection from 127.0.0.1: answered within ``timeout``?"""
    try:
        with socket.create_connection(server.addr, timeout=timeout) as s:
            s.sendall(FRAMED)
            head = recv_exact(s, 2)
            return head is not None and recv_exact(s, struct.unpack("!H", head)[0]) is not None
    except OSError:
        return False


def closed_by_server(s: socket.socket) -> bool:
    try:
        s.setblocking(False)
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def trickle(socks: list[socket.socket]) -> None:
    """One more byte of the next message on every connection (it announced 65535 bytes, so
    it never completes)."""
    for s in socks:
        with contextlib.suppress(OSError):  # closed by the server: what we want
            s.send(b"\xff")


@pytest.mark.slow
def test_trickling_connections_cannot_lock_tcp(server: Endpoint) -> None:
    """256 connections from 32 addresses, each sending one byte of its next query now and then."""
    socks: list[socket.socket] = []
    try:
        for i in range(ATTACKERS):
            source = f"127.0.9.{i % SOURCES + 1}"
            s = socket.create_connection(server.addr, timeout=2.0, source_address=(source, 0))
            socks.append(s)
            # one whole query first: its reply proves the server holds the connection
            s.sendall(FRAMED + b"\xff")
            head = recv_exact(s, 2)
            assert head is not None and recv_exact(s, struct.unpack("!H", head)[0])
            if i % 32 == 31:
                trickle(socks)
        # every slot is mid-message now; within the io deadline (+ slack) TCP serves again
        wait_for(
            lambda: trickle(socks) or tcp_query(server, 0.5),
            IO_TIMEOUT + 3.0,
            "TCP to serve a client again",
        )
        # and goes on serving while the attack goes on past the idle timeout
        served = 0
        restored = time.monotonic()
        while time.monotonic() - restored < 1.5 * IDLE_TIMEOUT:
            trickle(socks)
            assert tcp_query(server), "a whole query over TCP went unanswered during the attack"
            served += 1
            time.sleep(0.2)  # the attack's pace: a byte per connection every ~0.2 s
        assert served >= 5
        # every trickler was cut off by the io deadline (with slack for a loaded machine)
        wait_for(
            lambda: all(closed_by_server(s) for s in socks),
            IO_TIMEOUT + 3.0,
            "the server to close every trickling connection",
        )
    finally:
        for s in socks:
            s.close()


def test_a_message_must_arrive_whole_within_the_io_timeout(server: Endpoint) -> None:
    with socket.create_connection(server.addr, timeout=2.0) as s:
        start = time.monotonic()
        s.sendall(FRAMED[:5])
        while time.monotonic() - start < 3 * IO_TIMEOUT and not closed_by_server(s):
            try:
                s.send(FRAMED[5:6])  # a byte now and then: does not extend the deadline
            except OSError:
                break
            time.sleep(0.1)
        assert closed_by_server(s), "a partial message held the connection past its deadline"
        assert time.monotonic() - start < 3 * IO_TIMEOUT + 1.0


def test_whole_messages_keep_a_connection_open_past_the_io_timeout(server: Endpoint) -> None:
    """The deadline is per message: a client sending whole queries slowly is not cut off."""
    with socket.create_connection(server.addr, timeout=2.0) as s:
        for _ in range(4):
            s.sendall(FRAMED)
            head = recv_exact(s, 2)
            assert head is not None and recv_exact(s, struct.unpack("!H", head)[0])
            time.sleep(IO_TIMEOUT)  # idle between messages: under the 2 s idle timeout


def test_connections_per_source_are_limited(server: Endpoint) -> None:
    socks = []
    try:
        for _ in range(24):
            socks.append(
                socket.create_connection(server.addr, timeout=2.0, source_address=("127.0.10.1", 0))
            )
        wait_for(
            lambda: sum(closed_by_server(s) for s in socks) == 8,
            3.0,
            "8 of 24 connections from one address to be refused (limit 16)",
        )
        assert tcp_query(server), "another address is still served"
    finally:
        for s in socks:
            s.close()
