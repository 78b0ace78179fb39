"""`dnslab up`: everything starts, answers, and every child is gone after Ctrl-C, SIGTERM or a
failure to start (checked PID by PID)."""

from __future__ import annotations

import os
import signal
import socket
import tomllib
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from lab.auth import default_secret_path
from lab.drill.labgen import patch_config, to_toml
from lab.drill.scenario import CheckSpec
from lab.procs import ProcessGroup, free_port, wait_for
from tests.conftest import DNSLAB, REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def lab_config(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    """The repository's lab.toml on free ports, checks every 0.2 s."""
    raw = tomllib.loads((REPO / "lab.toml").read_text())
    data = patch_config(
        raw, REPO, checks=CheckSpec(interval=0.2, fall=2, rise=1, timeout=0.1), port_for=free_port
    )
    path = tmp_path / "lab.toml"
    path.write_text(to_toml(data))
    return path, data


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie waiting for its reaper is dead too
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def read_pids(log_dir: Path) -> dict[str, int]:
    path = log_dir / "pids.txt"
    if not path.exists():
        return {}
    return {
        name: int(pid) for name, pid in (line.split() for line in path.read_text().splitlines())
    }


def log_text(procs: ProcessGroup, name: str) -> str:
    child = next(c for c in procs.children if c.name == name)
    assert child.log_path is not None
    return child.log_path.read_text(errors="replace") if child.log_path.exists() else ""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_up_serves_then_stops_every_child(
    procs: ProcessGroup, tmp_path: Path, sig: signal.Signals
) -> None:
    cfg, data = lab_config(tmp_path)
    up = procs.start(
        "up",
        [
            DNSLAB,
            "up",
            "--config",
            str(cfg),
            "--logs",
            str(tmp_path / "up"),
            "--status-every",
            "0.2",
        ],
    )
    wait_for(
        lambda: "lab ready:" in log_text(procs, "up"),
        60,
        "dnslab up ready",
        interval=0.05,
        proc=up.proc,
    )
    pids = read_pids(tmp_path / "up" / "logs")
    assert set(pids) == {
        "region-us-east",
        "region-eu-west",
        "region-ap-south",
        "healthcheck-local",
        "authoritative",
        "resolver",
    }
    assert not any(pid_gone(p) for p in pids.values())
    # no secret configured: every child gets the per-user default (the session's)
    default = default_secret_path()
    assert f"control plane: secret {default} (default secret)" in log_text(procs, "up")
    auth = data["authoritative"]
    assert isinstance(auth, dict)
    host, _, port = auth["listen"].rpartition(":")
    # one look, so a real query with a real timeout (udp_dns_ready's 0.2 s is for polling)
    q = dns.message.make_query("lab.example.", "SOA")
    reply = dns.query.udp(q, host, port=int(port), timeout=2.0)
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer, reply
    wait_for(
        lambda: "eu-west=up" in log_text(procs, "up"),
        20,
        "status line shows regions up",
        proc=up.proc,
    )
    os.kill(up.pid, sig)
    assert up.proc.wait(timeout=30) == 0
    wait_for(lambda: all(pid_gone(p) for p in pids.values()), 10, "every child gone")
    assert "stopped 6 processes" in log_text(procs, "up")


def test_up_fails_cleanly_when_a_region_cannot_bind(procs: ProcessGroup, tmp_path: Path) -> None:
    cfg, data = lab_config(tmp_path)
    regions = data["regions"]
    assert isinstance(regions, dict)
    host, _, port = regions["eu-west"]["listen"].rpartition(":")
    with socket.socket() as squatter:
        squatter.bind((host, int(port)))
        squatter.listen()
        up = procs.start("up", [DNSLAB, "up", "--config", str(cfg), "--logs", str(tmp_path / "up")])
        code = up.proc.wait(timeout=60)
    out = log_text(procs, "up")
    assert code != 0, out
    assert "region-eu-west" in out and "cannot bind" in out
    assert "stopped 6 processes" in out
    pids = read_pids(tmp_path / "up" / "logs")
    assert len(pids) == 6
    wait_for(lambda: all(pid_gone(p) for p in pids.values()), 10, "every child gone")


def test_children_die_with_a_sigkilled_up(procs: ProcessGroup, tmp_path: Path) -> None:
    """No cleanup code runs on SIGKILL: the kernel's parent-death signal takes the children."""
    cfg, _ = lab_config(tmp_path)
    up = procs.start("up", [DNSLAB, "up", "--config", str(cfg), "--logs", str(tmp_path / "up")])
    wait_for(lambda: "lab ready:" in log_text(procs, "up"), 60, "dnslab up ready", proc=up.proc)
    pids = read_pids(tmp_path / "up" / "logs")
    assert len(pids) == 6 and not any(pid_gone(p) for p in pids.values())
    os.kill(up.pid, signal.SIGKILL)
    up.proc.wait(timeout=10)
    wait_for(lambda: all(pid_gone(p) for p in pids.values()), 10, "every child gone")
