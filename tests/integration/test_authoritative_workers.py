"""``dnslab authoritative --workers 2``: two processes on one port, one health view, summed
metrics, every worker stopped with the first."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import dns.message
import dns.query
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lab.procs import ProcessGroup, udp_dns_ready, wait_for
from tests.conftest import DNSLAB, REPO
from tests.integration.geo_lab import AUTH, addrs, admin, ask, write_lab
from tests.integration.knot import quiet_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EU, US = "127.0.2.1", "127.0.1.1"
ASKS = 40  # fresh source ports: with 2 workers, 40 answers all from one worker is 2**-39


def worker_pids(log: Path) -> list[int]:
    match = re.search(r"workers 2 \(pids (\d+) (\d+)\)", log.read_text())
    assert match, log.read_text()
    return [int(match.group(1)), int(match.group(2))]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"


def test_two_static_workers_share_the_port_and_stop_together(procs: ProcessGroup) -> None:
    port = quiet_port()
    zone = f"lab.example.={REPO / 'zones' / 'lab.example.zone'}"
    child = procs.start(
        "auth",
        [
            DNSLAB,
            "authoritative",
            "--zone",
            zone,
            "--listen",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
        ],
    )
    procs.wait_ready(child, udp_dns_ready("127.0.0.1", port, "lab.example."))
    assert child.log_path is not None
    wait_for(lambda: "workers 2" in child.log_path.read_text(), 10, "ready line")  # type: ignore[union-attr]
    pids = worker_pids(child.log_path)
    assert pids[0] == child.pid and pids[1] != child.pid
    for _ in range(ASKS):
        q = dns.message.make_query("static.lab.example.", "A")
        m = dns.query.udp(q, "127.0.0.1", port=port, timeout=2.0)
        assert [r.to_text() for rrset in m.answer for r in rrset] == ["127.0.0.10"]
    child.stop()
    wait_for(lambda: not alive(pids[1]), 10, "worker 1 stopped with worker 0")


def test_geo_workers_answer_from_one_health_view_and_metrics_sum(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    config, dns_port, admin_port = write_lab(tmp_path)
    argv = [DNSLAB, "authoritative", "--config", str(config), "--listen", f"127.0.0.1:{dns_port}"]
    child = procs.start("auth", [*argv, "--workers", "2"])
    procs.wait_ready(child, udp_dns_ready("127.0.0.1", dns_port, "lab.example."))
    assert child.log_path is not None
    wait_for(lambda: "workers 2" in child.log_path.read_text(), 10, "ready line")  # type: ignore[union-attr]
    pids = worker_pids(child.log_path)
    assert all(addrs(ask(dns_port, "127.2.0.10")) == [EU] for _ in range(ASKS))
    r = admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
    assert r.status_code == 200, r.text

    # the override reached the other worker: every answer, from either worker, moved. Worker
    # 0 applies it before the PUT returns and hands it to worker 1 through a pipe, so the
    # first moved answer may come from worker 0 while worker 1 has not read the pipe yet
    # and still answers the old region: wait until ASKS answers in a row (fresh source
    # ports: both workers) moved, then hold ASKS more to it.
    def all_moved() -> bool:
        return all(addrs(ask(dns_port, "127.2.0.10")) == [US] for _ in range(ASKS))

    wait_for(all_moved, 5, f"{ASKS} moved answers in a row")
    assert all_moved()
    sent = 3 * ASKS  # at least: ASKS before, ASKS in the wait's last round, ASKS after

    def counted() -> float:
        text = admin(admin_port, "GET", "/metrics").text
        total = 0.0
        for family in text_string_to_metric_families(text):
            if family.name == "dnslab_authoritative_geo_answers":
                total += sum(s.value for s in family.samples if s.name.endswith("_total"))
        return total

    # every worker reports its counts each second; /metrics of worker 0 shows the sum
    deadline = time.monotonic() + 10
    while counted() < sent and time.monotonic() < deadline:
        time.sleep(0.2)
    assert counted() >= sent
    child.stop()
    wait_for(lambda: not alive(pids[1]), 10, "worker 1 stopped with worker 0")


def test_the_port_reservation_swallows_no_query() -> None:
    """Worker 0 holds the shared port from the fork until its own sockets are bound. Nothing
    held may sit in the UDP SO_REUSEPORT group: the kernel would hand it a share of the
    queries and nobody would answer them (dnsperf lost a quarter of its clients that way)."""
    import socket

    from authoritative.workers import reserve_port

    port, held = reserve_port("127.0.0.1", 0)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            server.bind(("127.0.0.1", port))
            server.settimeout(2.0)
            for i in range(ASKS):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
                    client.sendto(bytes([i]), ("127.0.0.1", port))  # a fresh source port each
                    assert server.recv(16) == bytes([i])
    finally:
        for s in held:
            s.close()
