"""Issue 13 finding 8: the answer cache grew to ~250 MB after 200,000 random NXDOMAIN names and
was then emptied in one go. Now every wire cache is LRU, bounded by entries and by one byte
budget, and exports its size. A real ``dnslab authoritative`` (lab.toml with a small budget)
gets 12,000 random names in lab.example.; between bursts its /metrics are read.
"""

from __future__ import annotations

import random
import socket
import struct
from pathlib import Path

import dns.message
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.procs import ProcessGroup
from tests.integration.geo_lab import admin, start_lab
from tests.integration.test_robustness import rss_mib

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ENTRIES = 1500
BUDGET = 700_000  # bytes for all wire caches together
BURST = 400
BURSTS = 30  # 12,000 random names


def metrics(admin_port: int) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(admin(admin_port, "GET", "/metrics").text):
        for sample in family.samples:
            out[(sample.name, sample.labels.get("cache", ""))] = sample.value
    return out


def flood(sock: socket.socket, port: int, rng: random.Random, n: int) -> int:
    """``n`` queries for random names, all sent, then the replies read; how many came back."""
    for i in range(n):
        name = f"r{rng.getrandbits(48):x}.lab.example."
        wire = dns.message.make_query(name, "A", id=i).to_wire()
        sock.sendto(wire, ("127.0.0.1", port))
    got = 0
    try:
        while got < n:
            sock.recv(4096)
            got += 1
    except TimeoutError:
        pass
    return got


def test_random_names_fill_the_cache_up_to_its_bound_and_evict_gradually(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    settings = f'quorum = "majority"\ncache_entries = {ENTRIES}\ncache_bytes = {BUDGET}'
    _, port, admin_port = start_lab(procs, tmp_path, **{'quorum = "majority"': settings})
    pid = procs.children[-1].pid
    rng = random.Random(20261201)
    hot = dns.message.make_query("lab.example.", "SOA").to_wire()
    answer_entries = []
    rss = []
    previous_hits = 0.0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        sock.settimeout(2.0)
        for burst in range(BURSTS):
            assert flood(sock, port, rng, BURST) == BURST, "queries lost in the flood"
            sock.sendto(hot, ("127.0.0.1", port))  # a name asked all the time stays cached
            assert struct.unpack("!H", sock.recv(4096)[:2])[0] == struct.unpack("!H", hot[:2])[0]
            after = metrics(admin_port)
            hits = after[("dnslab_authoritative_cache_hits_total", "")]
            if burst:  # random names all miss; the hot name hit: exactly one more hit
                assert hits == previous_hits + 1, "the hot name was evicted"
            previous_hits = hits
            used = sum(
                after[("dnslab_authoritative_cache_bytes", c)]
                for c in ("answer", "exact_udp", "exact_tcp")
            )
            assert used <= BUDGET + 2 * 1500, f"caches hold {used} bytes, budget {BUDGET}"
            entries = after[("dnslab_authoritative_cache_entries", "answer")]
            assert entries <= ENTRIES
            answer_entries.append(entries)
            rss.append(rss_mib(pid))
    full = answer_entries.index(max(answer_entries))
    assert full < BURSTS // 2, "the cache never filled up"
    # once full it stays (nearly) full: evicted gradually, never emptied in one go
    assert min(answer_entries[full:]) >= 0.9 * max(answer_entries), answer_entries
    evicted = after[("dnslab_authoritative_cache_evictions_total", "answer")]
    assert evicted >= BURST * BURSTS - ENTRIES
    # memory is flat once the cache is full: the second half of the flood adds ~nothing
    # (before: every name stayed, ~1.25 KB each)
    grown = rss[-1] - rss[BURSTS // 2]
    assert grown < 3.0, f"RSS grew {grown:.1f} MiB over the last 6,000 names: {rss}"
