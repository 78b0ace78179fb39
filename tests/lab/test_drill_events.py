"""Typed drill events: what the simulation publishes, checked against its own record."""

from __future__ import annotations

import asyncio

from lab.drill import events as ev
from lab.drill.live import LiveRun, Targets
from lab.drill.measure import requests, stale_windows
from lab.drill.record import RunRecord
from lab.drill.results import summarise
from lab.drill.scenario import FaultSpec, load_scenario
from lab.drill.sim import simulate
from lab.errors import InjectionError


def _run(ttl: int = 5) -> tuple[ev.EventLog, RunRecord]:
    log = ev.EventLog()
    rec = simulate(load_scenario(None), ttl, sinks=[log])
    return log, rec


def test_a_run_is_framed_by_started_and_finished() -> None:
    log, _ = _run()
    assert isinstance(log.events[0], ev.RunStarted)
    assert isinstance(log.events[-1], ev.RunFinished)
    assert not log.events[-1].failed
    assert log.events[0].ttl == 5 and log.events[0].mode == "sim"


def test_fault_decision_and_answer_change_follow_each_other() -> None:
    log, rec = _run()
    [fault] = log.of(ev.FaultInjected)
    assert isinstance(fault, ev.FaultInjected)
    assert fault.region == rec.dead_region and fault.at == rec.fault_at
    downs = [
        e for e in log.of(ev.CheckerDecision) if isinstance(e, ev.CheckerDecision) and not e.up
    ]
    assert downs and downs[0].region == fault.region and downs[0].at > fault.at
    changes = [e for e in log.of(ev.AnswerChanged) if isinstance(e, ev.AnswerChanged)]
    assert changes, "the dead region's locations must get a new answer"
    assert all(fault.region not in c.regions and c.at >= downs[0].at for c in changes)
    assert {e.what for e in log.of(ev.DelayMeasured) if isinstance(e, ev.DelayMeasured)} == {
        "detection",
        "propagation",
    }


def test_client_events_mirror_the_observations() -> None:
    log, rec = _run()
    obs = rec.observations
    assert rec.fault_at is not None
    reqs = [e for e in log.of(ev.ClientRequest) if isinstance(e, ev.ClientRequest)]
    res = log.of(ev.ClientResolved)
    assert len(reqs) == sum(1 for o in obs if o.kind == "request")
    assert len(res) == sum(1 for o in obs if o.kind == "resolve")
    dead = [e for e in reqs if e.dead]
    assert dead and all(e.region == rec.dead_region and e.at >= rec.fault_at for e in dead)
    assert all(not e.ok for e in dead), "a killed region refuses every request"


def test_window_closed_events_are_the_measured_windows() -> None:
    log, rec = _run(15)
    assert rec.dead_region is not None and rec.fault_at is not None
    w = stale_windows(requests(rec.observations), rec.dead_region, rec.fault_at, rec.recovered_at)
    closed = {e.client: e for e in log.of(ev.WindowClosed) if isinstance(e, ev.WindowClosed)}
    assert closed.keys() == w.affected.keys()
    assert all(closed[c].window_s == w.affected[c] for c in closed)
    assert {c for c, e in closed.items() if e.censored} == w.censored
    assert len(closed) == summarise(rec)["clients_affected"]


def test_a_failing_sink_does_not_stop_the_drill() -> None:
    def boom(_: ev.DrillEvent) -> None:
        raise RuntimeError("consumer bug")

    log = ev.EventLog()
    rec = simulate(load_scenario(None), 5, sinks=[ev.CallbackSink(boom), log])
    assert rec.bus.errors and "consumer bug" in rec.bus.errors[0]
    assert isinstance(log.events[-1], ev.RunFinished)


class _RefusingInjector:
    """An injector whose every step fails, as a region's control port answering 422 would."""

    def kill(self, region: str) -> str:
        raise InjectionError(f"SIGKILL {region}: no such process")

    async def restart(self, region: str) -> str:
        raise InjectionError(f"restart {region}: cannot")

    async def post_fault(self, region: str, body: dict[str, object]) -> str:
        raise InjectionError(f"fault on {region}: HTTP 422")


def test_a_failed_injection_fails_the_run_and_is_published() -> None:
    sc = load_scenario(None).model_copy(
        update={"faults": [FaultSpec(at=0.0, action="kill", region="eu-west")]}
    )
    rec = RunRecord(ttl=5, scenario=sc, clients=[], mode="live")
    log = ev.EventLog()
    rec.bus.subscribe(log)
    targets = Targets(("127.0.0.1", 1), ("127.0.0.1", 1), {}, {}, {}, "http://127.0.0.1:1", {})
    run = LiveRun(rec, targets, _RefusingInjector())
    asyncio.run(run.faults(list(sc.faults)))
    assert rec.failed and rec.fault_at is None
    [failed] = log.of(ev.InjectionFailed)
    assert isinstance(failed, ev.InjectionFailed) and failed.region == "eu-west"
    assert "no such process" in failed.detail
    doc = summarise(rec)
    assert doc["failed"] and doc["notes"][0].startswith("INJECTION FAILED")
