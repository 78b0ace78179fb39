"""A live drill publishes the same typed events as the simulation (lab/drill/events.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lab.drill import events as ev
from lab.drill.runner import DrillOptions, run_drill

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = """
name = "events"
ttls = [2]
clients = 20
request_interval = 0.2
tail = 1.0
[locations]
eu = 1
[profiles]
"honours-ttl" = 1
[checks]
interval = 0.5
fall = 3
rise = 2
timeout = 0.4
[[faults]]
at = 2.0
action = "kill"
"""


def test_live_drill_publishes_typed_events(tmp_path: Path) -> None:
    scenario = tmp_path / "events.toml"
    scenario.write_text(SCENARIO)
    log = ev.EventLog()
    opts = DrillOptions(scenario=scenario, out=tmp_path / "out", sinks=(log,))
    assert run_drill(opts, io.StringIO(), io.StringIO()) == 0
    kinds = [type(e) for e in log.events]
    assert kinds[0] is ev.RunStarted and kinds[-1] is ev.RunFinished
    [fault] = [e for e in log.events if isinstance(e, ev.FaultInjected)]
    assert fault.region == "eu-west" and fault.fault == "kill"
    downs = [
        e
        for e in log.events
        if isinstance(e, ev.CheckerDecision) and e.region == "eu-west" and not e.up
    ]
    assert downs and downs[0].at >= fault.at and downs[0].vantage
    changes = [e for e in log.events if isinstance(e, ev.AnswerChanged) and e.location == "eu"]
    assert changes and "eu-west" not in changes[0].regions
    reqs = [e for e in log.events if isinstance(e, ev.ClientRequest)]
    assert any(e.dead and not e.ok for e in reqs)
    assert all(not e.dead for e in reqs if e.at < fault.at)
    closed = [e for e in log.events if isinstance(e, ev.WindowClosed)]
    assert all(e.ttl == 2 and e.location == "eu" for e in closed)
    # published as the windows close: the first comes before the clients' last request
    last_req = max(i for i, e in enumerate(log.events) if isinstance(e, ev.ClientRequest))
    assert log.events.index(closed[0]) < last_req
    # each client's latest WindowClosed is its window in results.json
    final = {e.client: (round(e.window_s, 4), e.censored) for e in closed}
    [run] = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    assert len(final) == 20
    assert final == {c["client"]: (c["window_s"], c["censored"]) for c in run["client_windows"]}
    measured = {e.what for e in log.events if isinstance(e, ev.DelayMeasured)}
    assert measured == {"detection", "propagation"}
