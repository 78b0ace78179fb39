"""Response rate limiting (issue 13 item 4): dnslab's ``--rrl-rate-limit/--rrl-slip`` beside
Knot DNS 3.2's ``mod-rrl`` with the same settings, both real processes.

From one source, a burst of queries far over the rate: both servers answer about four
seconds' worth of tokens in full, then limit; slip 2 lets about every second limited reply
out truncated (TC=1, question and OPT only, rcode kept) and drops the rest; a slipped reply of
dnslab summarises exactly like Knot's. TCP is never limited. Without the option nothing is.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from lab.procs import ProcessGroup
from tests.conftest import require_tool
from tests.integration.diff_cases import query
from tests.integration.dnsdiff import send_tcp, summarize
from tests.integration.knot import Endpoint, start_knot
from tests.integration.servers import ZONES, start_dnslab

pytestmark = [pytest.mark.integration, pytest.mark.system]

RATE = 5
SLIP = 2
BURST = 60
CAPACITY = 4 * RATE  # Knot's RRL_CAPACITY: a bucket holds 4 seconds of tokens


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoint, Endpoint]]:
    knotd = require_tool("knotd")
    work = tmp_path_factory.mktemp("rrl")
    group = ProcessGroup(log_dir=work / "logs")
    try:
        knot = start_knot(group, knotd, work / "knot", ZONES[:1], rrl=(RATE, SLIP))
        flags = ("--rrl-rate-limit", str(RATE), "--rrl-slip", str(SLIP))
        ours = start_dnslab(group, ZONES[:1], extra=flags)
        yield knot, ours
    finally:
        group.stop_all()


def blast(addr: tuple[str, int], wire: bytes, source: str, n: int = BURST) -> list[bytes]:
    """``n`` copies of ``wire`` from ``source`` as fast as possible; every reply, in order."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        for i in range(n):
            s.sendto(i.to_bytes(2, "big") + wire[2:], addr)
        replies = []
        deadline = time.monotonic() + 1.0
        while (left := deadline - time.monotonic()) > 0 and len(replies) < n:
            if select.select([s], [], [], left)[0]:
                replies.append(s.recv(65535))
        return replies


def tally(replies: list[bytes]) -> tuple[int, int]:
    """(full replies, truncated replies)."""
    tc = sum(bool(r[2] & 0x02) for r in replies)
    return len(replies) - tc, tc


@pytest.mark.parametrize(
    ("name", "source"),
    [("www.example.com.", "127.0.11.1"), ("nx.example.com.", "127.0.12.1")],
)
def test_a_burst_is_limited_like_knot(
    servers: tuple[Endpoint, Endpoint], name: str, source: str
) -> None:
    knot, ours = servers
    wire = query(name)
    got = {}
    for server, src in ((knot, source), (ours, source[:-1] + "2")):
        replies = blast(server.addr, wire, src)
        full, tc = tally(replies)
        # the burst takes well under a second: at most one second's refill on top of capacity
        assert CAPACITY <= full <= CAPACITY + RATE, f"{server.name}: {full} full replies"
        assert tc > 0 and full + tc < BURST, f"{server.name}: {tc} truncated, rest dropped"
        got[server.name] = (full, tc, next(r for r in replies if r[2] & 0x02))
    limited = BURST - got["dnslab"][0]
    assert abs(got["dnslab"][1] - limited / SLIP) <= 1, "dnslab slips every 2nd limited reply"
    knot_tc, our_tc = summarize(got["knotd"][2]), summarize(got["dnslab"][2])
    assert knot_tc == our_tc, f"slipped replies differ:\n{knot_tc}\n{our_tc}"


def test_tcp_is_never_limited(servers: tuple[Endpoint, Endpoint]) -> None:
    _, ours = servers
    wire = query("mail.example.com.")
    blast(ours.addr, wire, "127.0.13.1")  # the bucket is empty now
    for _ in range(30):
        reply = send_tcp(wire, ours.addr)
        assert reply is not None and not reply[2] & 0x02


def test_without_the_option_nothing_is_limited(tmp_path_factory: pytest.TempPathFactory) -> None:
    group = ProcessGroup(log_dir=tmp_path_factory.mktemp("no-rrl") / "logs")
    try:
        plain = start_dnslab(group, ZONES[:1])
        full, tc = tally(blast(plain.addr, query("www.example.com."), "127.0.14.1"))
        assert (full, tc) == (BURST, 0)
    finally:
        group.stop_all()
