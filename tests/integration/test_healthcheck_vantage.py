"""Several checkers (vantage points) from one lab.toml: each listens where its [[checkers]]
entry says and publishes its own name; bad input exits non-zero with a clear message."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from pathlib import Path

import pytest

from lab.procs import ProcessGroup, free_port, http_ready, tcp_ready, wait_for
from tests.conftest import DNSLAB

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def status(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/status", timeout=2) as r:
        return json.loads(r.read())  # type: ignore[no-any-return]


def test_two_vantage_points_from_one_config(procs: ProcessGroup, tmp_path: Path) -> None:
    rport, na, eu = free_port(), free_port(), free_port()
    region = procs.start(
        "r", [DNSLAB, "region", "--name", "eu-west", "--listen", f"127.0.0.1:{rport}"]
    )
    procs.wait_ready(region, http_ready(f"http://127.0.0.1:{rport}/healthz"))
    config = tmp_path / "lab.toml"
    config.write_text(
        f'[[checkers]]\nname = "na"\nlisten = "127.0.0.1:{na}"\n\n'
        f'[[checkers]]\nname = "eu"\nlisten = "127.0.0.1:{eu}"\n\n'
        "[checks]\ninterval = 0.3\n\n"
        f'[regions.eu-west]\nlisten = "127.0.0.1:{rport}"\nv4 = ["127.0.2.1"]\n'
    )
    for name, port in (("na", na), ("eu", eu)):
        child = procs.start(name, [DNSLAB, "healthcheck", "--config", str(config), "--name", name])
        procs.wait_ready(child, tcp_ready("127.0.0.1", port))
    for name, port in (("na", na), ("eu", eu)):
        wait_for(lambda p=port: status(p)["regions"][0]["state"] == "up", 5, f"{name} sees up")  # type: ignore[index]
        body = status(port)
        assert body["checker"] == name and body["regions"][0]["checker"] == name  # type: ignore[index]
        # both checkers and the region share the default lab secret: the region proves itself
        reason = body["regions"][0]["reason"]  # type: ignore[index]
        assert reason == "first probe succeeded: status 200, proof ok"
        # The config's interval is used, not only reported (the old check read back
        # settings.interval): 5 more probes take 1.5 s at 0.3 s; at the 2 s default 10 s.
        # Mutation: `next_start(result.started, 2.0, ...)` in healthcheck/scheduler.py.
        first = body["regions"][0]["probes"]  # type: ignore[index]
        wait_for(
            lambda p=port, f=first: status(p)["regions"][0]["probes"] >= f + 5,  # type: ignore[index]
            5,
            f"{name} probes every 0.3 s",
        )


def test_bad_input_exits_nonzero_with_message() -> None:
    out = subprocess.run(
        [DNSLAB, "healthcheck", "--target", "eu"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 1
    assert "error: --target: expected NAME=URL" in out.stderr, out.stderr
