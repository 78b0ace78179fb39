"""lab._udpbatch, the optional C extension (recvmmsg/sendmmsg), on real loopback sockets.

Built by `make install` where gcc and the Python headers are; a test here skips without it
locally and fails under DNSLAB_REQUIRE_SYSTEM_TOOLS=1 (CI installs gcc and python3-dev)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from lab import udpbatch
from tests.conftest import require_system


def need_extension() -> None:
    if not udpbatch.AVAILABLE:
        msg = "lab._udpbatch not built (make install needs gcc and python3-dev; .ci/run has them)"
        if require_system():
            pytest.fail(msg + " and DNSLAB_REQUIRE_SYSTEM_TOOLS=1")
        pytest.skip(msg)


def pair(family: socket.AddressFamily, host: str) -> tuple[socket.socket, socket.socket]:
    server = socket.socket(family, socket.SOCK_DGRAM)
    client = socket.socket(family, socket.SOCK_DGRAM)
    server.bind((host, 0))
    client.bind((host, 0))
    server.setblocking(False)
    client.settimeout(2.0)
    return server, client


@pytest.fixture
def v4() -> Iterator[tuple[socket.socket, socket.socket]]:
    need_extension()
    server, client = pair(socket.AF_INET, "127.0.0.1")
    yield server, client
    server.close()
    client.close()


def test_recv_returns_every_waiting_datagram_with_its_sender(
    v4: tuple[socket.socket, socket.socket],
) -> None:
    server, client = v4
    batch = udpbatch.make(8, True)
    assert batch is not None
    with pytest.raises(BlockingIOError):
        batch.recv(server.fileno())
    sent = [bytes([i]) * (i + 1) for i in range(5)] + [b"x" * 65000]
    for data in sent:
        client.sendto(data, server.getsockname())
    got = batch.recv(server.fileno())
    assert [d for d, _ in got] == sent
    assert {a for _, a in got} == {client.getsockname()}


def test_send_answers_each_sender_and_skips_none_and_unsendable(
    v4: tuple[socket.socket, socket.socket],
) -> None:
    server, client = v4
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(2.0)
    try:
        batch = udpbatch.make(8, True)
        assert batch is not None
        for i in range(4):
            (client if i % 2 else other).sendto(bytes([i]), server.getsockname())
        got = batch.recv(server.fileno())
        assert len(got) == 4
        too_big = b"z" * 70000  # over any UDP payload: the kernel refuses it (EMSGSIZE)
        dropped = batch.send(server.fileno(), [b"r0", None, too_big, b"r3"])
        assert dropped == 0  # not a full buffer: the refused reply is skipped, the rest go
        assert other.recvfrom(100)[0] == b"r0"
        assert client.recvfrom(100)[0] == b"r3"
        with pytest.raises(ValueError, match="5 replies for 4 datagrams"):
            batch.send(server.fileno(), [b"a"] * 5)
        with pytest.raises(TypeError, match="bytes or None"):
            batch.send(server.fileno(), ["text"])  # type: ignore[list-item]
    finally:
        other.close()


def test_at_most_slots_per_recv(v4: tuple[socket.socket, socket.socket]) -> None:
    server, client = v4
    batch = udpbatch.make(3, True)
    assert batch is not None
    for i in range(5):
        client.sendto(bytes([i]), server.getsockname())
    assert [d for d, _ in batch.recv(server.fileno())] == [b"\x00", b"\x01", b"\x02"]
    assert [d for d, _ in batch.recv(server.fileno())] == [b"\x03", b"\x04"]


def test_ipv6_addresses_like_recvfrom() -> None:
    need_extension()
    try:
        server, client = pair(socket.AF_INET6, "::1")
    except OSError as exc:  # a machine without IPv6 loopback
        pytest.skip(f"no ::1: {exc}")
    try:
        batch = udpbatch.make(4, True)
        assert batch is not None
        client.sendto(b"q", server.getsockname())
        ((data, addr),) = batch.recv(server.fileno())
        assert data == b"q" and addr == client.getsockname()
        assert batch.send(server.fileno(), [b"r"]) == 0
        assert client.recvfrom(10) == (b"r", server.getsockname())
    finally:
        server.close()
        client.close()


def test_bad_arguments_are_refused() -> None:
    need_extension()
    assert udpbatch.Batch is not None
    for slots in (0, 1025):
        with pytest.raises(ValueError, match=r"slots must be 1\.\.1024"):
            udpbatch.Batch(slots)
    batch = udpbatch.Batch(2)
    with pytest.raises(ValueError, match="not a file descriptor"):
        batch.recv(-1)
    with pytest.raises(OSError):
        batch.recv(10_000)  # not open
    assert udpbatch.make(2, False) is None


def test_the_environment_can_turn_the_extension_off(monkeypatch: pytest.MonkeyPatch) -> None:
    need_extension()
    monkeypatch.setenv("DNSLAB_UDPBATCH", "0")
    assert udpbatch.make(4) is None
    monkeypatch.setenv("DNSLAB_UDPBATCH", "1")
    assert udpbatch.make(4) is not None


def test_many_senders_each_get_their_own_address(v4: tuple[socket.socket, socket.socket]) -> None:
    """More senders than the extension keeps address tuples for (256): every datagram still
    carries its own sender, and a repeat sender gets the same (host, port)."""
    server, _ = v4
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    batch = udpbatch.make(64, True)
    assert batch is not None
    senders = []
    try:
        for i in range(300):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            senders.append(s)
            # 20 ports of one address, then 280 addresses
            s.bind(("127.0.0.1" if i < 20 else f"127.0.{i // 200 + 1}.{1 + i % 200}", 0))
        for rep in range(2):
            for s in senders:
                s.sendto(b"q", server.getsockname())
            got = []
            while len(got) < len(senders):
                got += [a for _, a in batch.recv(server.fileno())]
            assert got == [s.getsockname() for s in senders], rep
    finally:
        for s in senders:
            s.close()


@pytest.mark.parametrize("batched", [False, True], ids=["python", "extension"])
def test_a_late_reply_goes_by_the_batch_rule(batched: bool) -> None:
    """Reader.send (a reply answered after its wake-up, e.g. after an upstream query): it
    reaches the sender, and a reply the kernel refuses is skipped without counting as full."""
    if batched:
        need_extension()
    server, client = pair(socket.AF_INET, "127.0.0.1")
    full: list[int] = []
    try:
        reader = udpbatch.Reader(server, lambda qs: [None] * len(qs), full.append, 8, batched)
        client_addr = client.getsockname()
        reader.send(b"z" * 70000, client_addr)  # over any UDP payload: EMSGSIZE, skipped
        reader.send(b"late", client_addr)
        assert client.recvfrom(100)[0] == b"late"
        assert full == []
    finally:
        server.close()
        client.close()
