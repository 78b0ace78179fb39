"""`dnslab authoritative` as a real process on a free loopback port: UDP, TCP, pipelining, TC."""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import subprocess
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from lab.procs import ProcessGroup, free_port, on_fresh_ports, udp_dns_ready
from tests.conftest import DNSLAB, REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLE = REPO / "zones" / "example.com.zone"
BIG = """\
$ORIGIN big.test.
$TTL 60
@ SOA ns1 hostmaster 1 7200 3600 1209600 300
@ NS ns1
ns1 A 192.0.2.53
""" + "".join(f"many A 10.1.0.{i}\n" for i in range(100))


def start(procs: ProcessGroup, *zones: str, extra: tuple[str, ...] = ()) -> tuple[str, int]:
    """Start the server on a free port (again on another one if it was taken meanwhile)."""

    def attempt(_: int) -> tuple[str, int]:
        port = free_port()
        argv = [DNSLAB, "authoritative", "--listen", f"127.0.0.1:{port}", *extra]
        for zone in zones:
            argv += ["--zone", zone]
        child = procs.start("authoritative", argv)
        procs.wait_ready(child, udp_dns_ready("127.0.0.1", port))
        return "127.0.0.1", port

    return on_fresh_ports(attempt)


def test_udp_and_tcp_on_one_port(procs: ProcessGroup) -> None:
    host, port = start(procs, str(EXAMPLE))
    query = dns.message.make_query("www.example.com", "A")
    udp = dns.query.udp(query, host, port=port, timeout=2)
    tcp = dns.query.tcp(query, host, port=port, timeout=2)
    for reply in (udp, tcp):
        assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
        assert reply.answer[0][0].address == "192.0.2.80"
    refused = dns.query.udp(dns.message.make_query("example.org", "A"), host, port=port, timeout=2)
    assert refused.rcode() == dns.rcode.REFUSED


def test_pipelined_tcp_queries_on_one_connection(procs: ProcessGroup) -> None:
    host, port = start(procs, str(EXAMPLE))
    names = ["www", "mail", "nope", "ftp", "ns1"] * 4
    queries = [dns.message.make_query(f"{n}.example.com", "A") for n in names]
    blob = b"".join(struct.pack("!H", len(w)) + w for w in (q.to_wire() for q in queries))
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(blob)  # all at once, before reading any answer
        replies = [read_framed(sock) for _ in queries]
    for query, raw in zip(queries, replies, strict=True):
        reply = dns.message.from_wire(raw)
        assert reply.id == query.id and reply.question == query.question


def read_framed(sock: socket.socket) -> bytes:
    size = struct.unpack("!H", read_exactly(sock, 2))[0]
    return read_exactly(sock, size)


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_truncated_over_udp_then_full_over_tcp(procs: ProcessGroup, tmp_path: Path) -> None:
    zone = tmp_path / "big.zone"
    zone.write_text(BIG)
    host, port = start(procs, str(zone))
    query = dns.message.make_query("many.big.test", "A")
    udp = dns.query.udp(query, host, port=port, timeout=2, raise_on_truncation=False)
    assert udp.flags & dns.flags.TC
    reply, used_tcp = dns.query.udp_with_fallback(query, host, port=port, timeout=2)
    assert used_tcp and len(reply.answer[0]) == 100


def test_sigterm_exits_zero(procs: ProcessGroup) -> None:
    start(procs, str(EXAMPLE))
    child = procs.children[-1]
    child.kill(signal.SIGTERM)
    assert child.proc.wait(timeout=5) == 0


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DNSLAB, *args], capture_output=True, text=True, timeout=30, check=False)


def test_check_zone_ok_and_errors(tmp_path: Path) -> None:
    ok = run_cli("check-zone", str(EXAMPLE))
    assert ok.returncode == 0 and ok.stdout.startswith("OK example.com. ")
    bad = tmp_path / "bad.zone"
    bad.write_text("$ORIGIN bad.test.\n$TTL 60\nwww A 192.0.2.1\nwww CNAME x\n")
    result = run_cli("check-zone", str(bad))
    assert result.returncode == 1
    assert f"{bad}:4: CNAME beside other data" in result.stderr


def test_server_refuses_to_start_on_a_broken_zone(tmp_path: Path) -> None:
    bad = tmp_path / "bad.zone"
    bad.write_text("$ORIGIN bad.test.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww A 300.1.1.1\n")
    result = run_cli("authoritative", "--zone", str(bad), "--listen", f"127.0.0.1:{free_port()}")
    assert result.returncode == 1 and f"{bad}:4:" in result.stderr
    assert "ready" not in result.stdout


def test_tcp_idle_timeout_and_connection_bound(procs: ProcessGroup) -> None:
    """At the bound the oldest idle connection makes room; a busy one is never evicted, so a
    newcomer is refused when every slot is mid-message; idle connections close after 0.5 s."""
    limits = ("--tcp-idle-timeout", "0.5", "--tcp-io-timeout", "3", "--tcp-max-connections", "2")
    _, port = start(procs, str(EXAMPLE), extra=limits)
    wire = dns.message.make_query("www.example.com", "A").to_wire()
    framed = struct.pack("!H", len(wire)) + wire
    first = socket.create_connection(("127.0.0.1", port), timeout=5)
    second = socket.create_connection(("127.0.0.1", port), timeout=5)
    first.sendall(framed[:3])  # mid-message: busy, not evictable
    with first, second, socket.create_connection(("127.0.0.1", port), timeout=5) as third:
        assert second.recv(10) == b""  # idle: closed for the newcomer
        third.sendall(framed[:3])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as fourth:
            assert fourth.recv(10) == b""  # both slots mid-message: refused at once
        third.sendall(framed[3:])
        assert dns.message.from_wire(read_framed(third)).answer  # within the bound: served
        assert third.recv(10) == b""  # then idle for 0.5 s: closed by the server


def test_a_burst_of_udp_queries_is_answered_in_full(procs: ProcessGroup) -> None:
    host, port = start(procs, str(EXAMPLE))
    wires = []
    for n in range(600):
        query = dns.message.make_query(f"n{n}.example.com", "A")
        query.id = n
        wires.append(query.to_wire())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.settimeout(3)
        for wire in wires:  # all sent before any reply is read
            sock.sendto(wire, (host, port))
        seen = set()
        with contextlib.suppress(TimeoutError):
            while len(seen) < len(wires):
                seen.add(struct.unpack("!H", sock.recv(65535)[:2])[0])
    assert len(seen) == len(wires)
