"""bench/web_snapshot.py end to end on a small drill: three fresh processes, one table; the
hub's snapshot (the page's model) is far smaller than every event's JSON (the old snapshot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "web_snapshot.py"


def test_the_table_of_a_small_drill() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--clients", "200", "--ttl", "5", "--interval", "0.5"],
        capture_output=True, text=True, timeout=110, check=True,
    ).stdout  # fmt: skip
    rows = {
        cells[0]: cells
        for line in out.splitlines()
        if line.startswith("| ") and (cells := [c.strip() for c in line.strip("|").split("|")])
    }
    assert set(rows) == {"sink", "null", "hub", "events"}
    hub, events = rows["hub"], rows["events"]
    assert hub[1] == events[1] and int(hub[1]) > 10_000  # the same drill, the same events
    mb = [float(r[2].removesuffix(" MB")) for r in (hub, events)]
    assert mb[0] * 50 < mb[1], out  # the model, not the events
