"""A simulated drill (and a sweep) backfilled into a real Prometheus: the same dashboard works.

`dnslab drill --sim --openmetrics FILE` → `promtool tsdb create-blocks-from openmetrics` →
Prometheus on those blocks: every Failover drill panel's expression returns data over the
simulated runs, and the histogram agrees with the simulation's results.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lab import prometheus as prometheus_cmd
from lab.procs import ProcessGroup, free_port
from tests.conftest import DNSLAB, REPO, require_tool
from tests.integration.test_observability_live import SCENARIO as LIVE_SCENARIO
from tests.integration.test_observability_live import Prom, check_expression, check_histogram
from tests.observability.exprs import dashboard_exprs

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]

# the live test's scenario, with the check settings the live test's lab has
SCENARIO = LIVE_SCENARIO.replace(
    "[locations]",
    "ttls = [3]\n[checks]\ninterval = 0.3\nfall = 2\nrise = 1\ntimeout = 0.15\n[locations]",
)


def backfill(om: Path, tsdb: Path) -> None:
    promtool = require_tool("promtool")
    proc = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tsdb)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_simulated_drill_in_the_dashboard(procs: ProcessGroup, tmp_path: Path) -> None:
    require_tool("prometheus")  # skip, or fail under DNSLAB_REQUIRE_SYSTEM_TOOLS=1
    scenario = tmp_path / "obs.toml"
    scenario.write_text(SCENARIO)
    om, out = tmp_path / "drill.om", tmp_path / "out"
    drill = procs.start(
        "drill", [DNSLAB, "drill", str(scenario), "--sim", "--out", str(out),
                  "--openmetrics", str(om)],
    )  # fmt: skip
    assert drill.proc.wait(timeout=120) == 0
    text = om.read_text()
    assert text.endswith("# EOF\n") and "dnslab_drill_stale_window_seconds_bucket{" in text
    run = json.loads((out / "results.json").read_text())["runs"][0]
    assert run["clients_affected"] > 5
    # the written time line ends now (the drill wrote it); Prometheus reads it as it is
    last = max(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[0] != "#")
    first = min(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[0] != "#")
    tsdb = tmp_path / "tsdb"
    backfill(om, tsdb)

    port = free_port()
    # the lab's own starter (dnslab up --prometheus): tmp_path/tsdb is the backfilled store
    prometheus_cmd.start(
        procs, {"global": {"scrape_interval": "1s"}, "scrape_configs": []}, tmp_path,
        listen=f"127.0.0.1:{port}",
    )  # fmt: skip
    prom = Prom(f"http://127.0.0.1:{port}")
    check_histogram(prom, run, last)
    drill_exprs = [e for e in dashboard_exprs() if e.where.startswith("failover-drill")]
    # region health and answer share come from the lab's components: a simulation has none
    own = [e for e in drill_exprs if "dnslab_drill_" in e.expr]
    assert len(own) >= 9
    found = [p for e in own if (p := check_expression(prom, e, first, last)) is not None]
    assert found == []
    # the README picture's tool draws the same panels from this Prometheus
    png = tmp_path / "panels.png"
    plot = subprocess.run(
        [sys.executable, str(REPO / "observability/grafana/plot.py"), "--prometheus",
         prom.base, "--start", str(first), "--end", str(last), "--out", str(png)],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert plot.returncode == 0, plot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sweep_writes_one_scenario_per_cell(tmp_path: Path) -> None:
    om = tmp_path / "sweep.om"
    proc = subprocess.run(
        [DNSLAB, "sweep", "--ttl", "5,30", "--replicates", "1", "--clients", "30",
         "--out", str(tmp_path / "sweep"), "--openmetrics", str(om)],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = om.read_text()
    for cell, ttl in ((0, 5), (1, 30)):
        assert (
            f'dnslab_drill_stale_window_seconds_count{{scenario="kill-busiest cell {cell}",ttl="{ttl}"'
            in text
        )
    backfill(om, tmp_path / "tsdb")
