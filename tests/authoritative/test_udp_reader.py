"""The UDP shell (server.UdpReader) on real loopback sockets, with the C extension
(recvmmsg/sendmmsg) and with the pure-Python path: every datagram waiting is answered in one
wake-up; a full send buffer drops (and counts) the reply; errors queued on the socket are
skipped."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import dns.message
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from authoritative.server import UDP_BATCH, UdpReader
from tests.authoritative.test_engine import make_engine, q
from tests.lab.test_udpbatch import need_extension


@pytest.fixture
def batched(request: pytest.FixtureRequest) -> bool:
    if request.param:
        need_extension()
    return bool(request.param)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    client.bind(("127.0.0.1", 0))
    server.setblocking(False)
    client.settimeout(2.0)
    yield server, client
    server.close()
    client.close()


@pytest.mark.parametrize("batched", [False, True], ids=["python", "recvmmsg"], indirect=True)
def test_every_waiting_datagram_is_answered_in_one_wake_up(
    pair: tuple[socket.socket, socket.socket], batched: bool
) -> None:
    server, client = pair
    engine = make_engine()
    reader = UdpReader(server, engine, None, batched)
    assert (reader.batch is not None) == batched
    sent = [q("www.test.example.") for _ in range(10)] + [q("nope.test.example.")]
    for m in sent:
        client.sendto(m.to_wire(), server.getsockname())
    client.sendto(b"\x00", server.getsockname())  # dropped by the engine: no reply
    reader.readable()
    replies = [dns.message.from_wire(client.recvfrom(4096)[0]) for _ in sent]
    assert sorted(r.id for r in replies) == sorted(m.id for m in sent)
    assert engine.metrics.dropped == 1 and engine.metrics.cache_hits == 9
    reader.readable()  # nothing waiting: returns at once
    client.settimeout(0.2)
    with pytest.raises(TimeoutError):
        client.recvfrom(4096)


@pytest.mark.parametrize("batched", [False, True], ids=["python", "recvmmsg"], indirect=True)
def test_at_most_a_batch_per_wake_up(
    pair: tuple[socket.socket, socket.socket], batched: bool
) -> None:
    server, client = pair
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    engine = make_engine()
    reader = UdpReader(server, engine, None, batched)
    for _ in range(UDP_BATCH + 5):
        client.sendto(q("www.test.example.").to_wire(), server.getsockname())
    reader.readable()
    assert sum(engine.metrics.queries.values()) == UDP_BATCH
    reader.readable()  # the rest on the next wake-up (the loop calls again: level-triggered)
    assert sum(engine.metrics.queries.values()) == UDP_BATCH + 5


class FullSendBuffer:
    """A socket whose send buffer is full and whose error queue holds an ICMP error first."""

    def __init__(self, datagrams: list[bytes]) -> None:
        self.inbox: list[bytes | OSError] = [ConnectionRefusedError(), *datagrams]

    def fileno(self) -> int:
        return -1

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        if not self.inbox:
            raise BlockingIOError
        item = self.inbox.pop(0)
        if isinstance(item, OSError):
            raise item
        return item, ("127.0.0.1", 5353)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> int:
        raise BlockingIOError


def test_a_full_send_buffer_drops_and_counts_the_reply() -> None:
    registry = CollectorRegistry()
    engine = make_engine(registry)
    stub = FullSendBuffer([q("www.test.example.").to_wire()] * 3)
    reader = UdpReader(stub, engine, None, batched=False)  # type: ignore[arg-type]
    reader.readable()  # must not raise: the ICMP error is skipped, the replies dropped
    assert engine.metrics.udp_send_dropped == 3
    assert sum(engine.metrics.queries.values()) == 3
    assert "dnslab_authoritative_udp_send_dropped_total 3.0" in generate_latest(registry).decode()
