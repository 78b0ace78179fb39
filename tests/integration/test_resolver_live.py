"""`dnslab resolver` as a process in front of Knot: transports, TC → TCP, ECS, serve-stale
timing, metrics, clean exit on SIGTERM, clear errors on bad configuration."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from lab.procs import ProcessGroup, wait_for
from tests.conftest import DNSLAB, require_tool
from tests.resolver.peers import Knot, ask, start_dnslab_resolver, start_lab_knot, zone_text

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]

BIG = "".join(f'big 60 IN TXT "{i:03d} {"x" * 180}"\n' for i in range(12))  # ~2.3 kB: TC on UDP
RECORDS = "a 2 IN A 192.0.2.1\n" + BIG


def lab(procs: ProcessGroup, tmp_path: Path) -> Knot:
    knotd, knotc = require_tool("knotd"), require_tool("knotc")
    return start_lab_knot(procs, knotd, knotc, tmp_path / "knot", zone_text(1, RECORDS))


def test_tcp_truncation_ecs_metrics_and_sigterm(procs: ProcessGroup, tmp_path: Path) -> None:
    knot = lab(procs, tmp_path)
    child, listen, metrics = start_dnslab_resolver(procs, DNSLAB, knot.addr, {})
    host, _, port = listen.rpartition(":")
    # a large answer: Knot truncates over UDP, the resolver retries over TCP upstream,
    # then the client gets TC over UDP and the full answer over TCP
    full = ask(listen, "big.lab.example.", "TXT", tcp=True)
    assert len(full.data) == 12
    q = dns.message.make_query("big.lab.example.", "TXT", use_edns=0, payload=1232)
    udp = dns.query.udp(q, host, port=int(port), timeout=3)
    assert udp.flags & dns.flags.TC
    # the client's ECS is echoed (Knot does not answer with ECS: scope 0, shared by all)
    ecs = dns.edns.ECSOption("127.2.3.4", 24)
    q = dns.message.make_query("a.lab.example.", "A", use_edns=0, options=[ecs])
    r = dns.query.udp(q, host, port=int(port), timeout=3)
    (echo,) = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    assert (echo.address, echo.srclen, echo.scopelen) == ("127.2.3.0", 24, 0)
    ask(listen, "a.lab.example.")  # a hit
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=3) as resp:
        text = resp.read().decode()
    assert "dnslab_resolver_cache_hits_total 2.0" in text  # UDP big (TC) and a
    assert "dnslab_resolver_cache_entries 2.0" in text
    assert "dnslab_resolver_upstream_latency_seconds_count" in text
    assert f"ready resolver {listen}" in child.log_tail()
    assert "resolver like=unbound" in child.log_tail()  # the summary line on stderr
    child.kill(signal.SIGTERM)
    assert child.proc.wait(timeout=5) == 0


def test_serve_expired_client_timeout_answers_stale_quickly(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    knot = lab(procs, tmp_path)
    options: dict[str, object] = {
        "serve-expired": True,
        "serve-expired-client-timeout": 200,
        "upstream-timeout-ms": 1500,
    }
    _, listen, _ = start_dnslab_resolver(procs, DNSLAB, knot.addr, options)
    assert ask(listen, "a.lab.example.").data == ("192.0.2.1",)
    filled = time.monotonic()
    knot.endpoint.child.stop()
    # TTL 2 s, plus the second it expires in (whole-second clock, the default: TTL 0 then)
    wait_for(lambda: time.monotonic() - filled > 3.05, 6, "TTL of 2 s and its last second pass")
    started = time.monotonic()
    stale = ask(listen, "a.lab.example.")
    took = time.monotonic() - started
    assert stale.data == ("192.0.2.1",) and stale.ttls == (30,)
    assert 0.15 <= took < 1.4, f"stale answer after {took:.3f}s (client timeout 0.2 s)"


def test_bad_config_exits_nonzero_with_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "lab.toml"
    bad.write_text('[resolver]\nmsg-cache-size = "4m"\n')
    run = subprocess.run(
        [DNSLAB, "resolver", "--config", str(bad)], capture_output=True, text=True, timeout=30
    )
    assert run.returncode != 0
    assert str(bad) in run.stderr and "msg-cache-size" in run.stderr
    assert "counts cache entries, not bytes" in run.stderr


def test_idle_tcp_connections_are_closed(procs: ProcessGroup, tmp_path: Path) -> None:
    knot = lab(procs, tmp_path)
    _, listen, _ = start_dnslab_resolver(procs, DNSLAB, knot.addr, {"tcp-idle-timeout": 300})
    host, _, port = listen.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        started = time.monotonic()
        assert conn.recv(1) == b""  # closed by the resolver, not by our 5 s timeout
        assert time.monotonic() - started < 3
    assert ask(listen, "a.lab.example.", tcp=True).data == ("192.0.2.1",)  # still serving


def _gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"  # a zombie no longer runs


def test_workers_share_the_port_sum_metrics_and_stop_together(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """--workers 2: both processes answer on one address (each query from a fresh socket, so
    the kernel spreads them), each fetches the name once (2 misses, summed /metrics); SIGKILL
    of one worker stops the supervisor (exit 1) and the other worker."""
    knot = lab(procs, tmp_path)
    child, listen, metrics = start_dnslab_resolver(
        procs, DNSLAB, knot.addr, {}, extra=["--workers", "2"]
    )
    line = next(x for x in child.log_tail().splitlines() if x.startswith("ready resolver"))
    pids = [int(p) for p in line.split("(pids ")[1].rstrip(")").split()]
    assert len(pids) == 2 and child.pid not in pids
    for _ in range(40):
        assert ask(listen, "a.lab.example.").rcode == "NOERROR"
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=3) as resp:
        text = resp.read().decode()
    assert "dnslab_resolver_cache_misses_total 2.0" in text  # one per worker: both answered
    assert 'dnslab_resolver_queries_total{outcome="hit"} 38.0' in text
    os.kill(pids[0], signal.SIGKILL)
    assert child.proc.wait(timeout=10) == 1
    wait_for(lambda: all(_gone(p) for p in pids), 10, "both workers gone")
    assert "worker 0" in child.log_tail() and "exited" in child.log_tail()
