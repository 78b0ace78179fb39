"""The `dnslab authoritative --config` process: clean exit on SIGTERM, clear errors on bad input."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from lab.procs import ProcessGroup, free_port
from tests.conftest import DNSLAB
from tests.integration.geo_lab import admin, start_lab, write_lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_sigterm_exits_zero_and_closes_both_ports(procs: ProcessGroup, tmp_path: Path) -> None:
    _, _, admin_port = start_lab(procs, tmp_path)
    assert admin(admin_port, "GET", "/v1/health").status_code == 200
    child = procs.children[0]
    child.kill(signal.SIGTERM)
    assert child.proc.wait(timeout=10) == 0
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", admin_port)) != 0


def test_busy_admin_port_and_broken_config_are_clear_errors(tmp_path: Path) -> None:
    config, _, admin_port = write_lab(tmp_path)
    with socket.create_server(("127.0.0.1", admin_port)):
        r = subprocess.run(
            [DNSLAB, "authoritative", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert r.returncode == 1
    assert f"admin listen 127.0.0.1:{admin_port}: cannot bind: Address already in use" in r.stderr
    config.write_text(
        config.read_text().replace('policy = "geo-failover"', 'policy = "geo-falover"')
    )
    r = subprocess.run(
        [DNSLAB, "authoritative", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 1 and "services.www.policy: Input should be 'geo-failover'" in r.stderr
