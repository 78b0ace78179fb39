"""README command #1: `make demo` runs `dnslab drill` (the default scenario) and must print
the stale-routing table well within 3 minutes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lab.procs import ProcessGroup, wait_for
from tests.conftest import DNSLAB
from tests.integration.test_up import pid_gone, read_pids

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUDGET_S = 180.0


@pytest.mark.timeout(BUDGET_S + 30)
def test_default_drill_prints_the_table_within_budget(procs: ProcessGroup, tmp_path: Path) -> None:
    t0 = time.monotonic()
    child = procs.start("demo", [DNSLAB, "drill", "--out", str(tmp_path / "out")], cwd=tmp_path)
    code = child.proc.wait(timeout=BUDGET_S)
    elapsed = time.monotonic() - t0
    assert child.log_path is not None
    log = child.log_path.read_text()
    assert code == 0, log
    assert elapsed < BUDGET_S
    assert "stale-routing window after the fault (dead region: " in log
    assert "by client profile (affected clients):" in log
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["ttl"] for r in doc["runs"]] == [5, 15]
    for run in doc["runs"]:
        assert run["detection_s"] is not None and run["propagation_s"] is not None
        assert run["clients_affected"] > 0 and run["censored"] > 0  # pinned clients
        for name, prof in run["by_profile"].items():  # every bounded profile keeps to the model
            if prof["model"]["max_s"] is not None and prof["clients_affected"]:
                assert prof["stale_window_s"]["max"] <= prof["model"]["max_s"] + 1.0, name
    pids = [p for d in (tmp_path / "out" / "logs").iterdir() for p in read_pids(d).values()]
    assert len(pids) == 12
    wait_for(lambda: all(pid_gone(p) for p in pids), 10, "every demo child gone")
