"""Stale windows published as they close (RunRecord.observe) are the measured ones."""

from __future__ import annotations

import random

from lab.drill import events as ev
from lab.drill.measure import Observation, Windows, requests, stale_windows
from lab.drill.population import Client
from lab.drill.profiles import parse_profile
from lab.drill.record import RunRecord
from lab.drill.scenario import load_scenario


def _record(n: int, log: ev.EventLog) -> RunRecord:
    clients = [Client(i, "eu", f"127.2.0.{i + 1}", parse_profile("honours-ttl"), 0.0, 0.5)
               for i in range(n)]  # fmt: skip
    rec = RunRecord(ttl=5, scenario=load_scenario(None), clients=clients, mode="live", end=30.0)
    rec.bus.subscribe(log)
    return rec


def req(t: float, client: int, region: str) -> Observation:
    return Observation(t, client, "request", f"a-{region}", region, 5, region != "eu", "cache")


def _last(log: ev.EventLog) -> dict[int, ev.WindowClosed]:
    return {e.client: e for e in log.events if isinstance(e, ev.WindowClosed)}


def test_a_window_is_published_by_the_request_that_closes_it() -> None:
    log = ev.EventLog()
    rec = _record(4, log)
    for o in [req(0.5, 0, "eu"), req(0.6, 1, "us"), req(0.7, 2, "eu"), req(0.8, 3, "eu")]:
        rec.observe(o)
    rec.fault_step(1.0, "eu", "kill", "kill", "killed eu")
    rec.observe(req(1.05, 3, "eu"))  # in flight at the fault: observed after it, counted
    rec.observe(req(2.0, 0, "eu"))
    assert not _last(log)
    rec.observe(req(3.0, 0, "us"))  # client 0 reaches a live region: its window is 1.0
    assert isinstance(log.events[-1], ev.WindowClosed)
    assert log.events[-1].client == 0 and log.events[-1].window_s == 1.0
    assert not log.events[-1].censored
    rec.observe(req(3.5, 2, "us"))  # last request before the fault was dead: window 0
    assert _last(log)[2].window_s == 0.0
    rec.observe(req(4.0, 1, "us"))  # never stale: nothing published
    assert 1 not in _last(log)
    rec.observe(req(5.0, 0, "eu"))  # sent back: the window reopens ...
    rec.observe(req(6.0, 0, "us"))  # ... and closes again, later
    assert _last(log)[0].window_s == 4.0
    n_live = len(log.of(ev.WindowClosed))
    rec.end = 10.0
    rec.conclude()  # client 3 (still on eu) is published at the end, censored
    assert len(log.of(ev.WindowClosed)) == n_live + 1
    assert _last(log)[3].censored and _last(log)[3].window_s == 1.05 - 1.0
    w = stale_windows(requests(rec.observations), "eu", 1.0)
    assert {c: e.window_s for c, e in _last(log).items()} == w.affected
    assert {c for c, e in _last(log).items() if e.censored} == w.censored
    assert isinstance(log.events[-1], ev.RunFinished)


def _reference(reqs: list[Observation], dead: str, fault_at: float, until: float | None) -> Windows:
    """The rule as stale_windows wrote it before WindowState (an oracle, written differently)."""
    before: dict[int, str] = {}
    for o in reqs:
        if o.t < fault_at:
            before[o.client] = o.region
    windows = {c: 0.0 for c, region in before.items() if region == dead}
    last = dict(before)
    for o in reqs:
        if o.t < fault_at or (until is not None and o.t >= until):
            continue
        last[o.client] = o.region
        if o.region == dead:
            windows[o.client] = max(windows.get(o.client, 0.0), o.t - fault_at)
    return Windows(windows, frozenset(c for c in windows if last.get(c) == dead))


def test_live_published_windows_equal_stale_windows_on_random_runs() -> None:
    rng = random.Random(7)
    for trial in range(200):
        n = rng.randint(1, 8)
        log = ev.EventLog()
        rec = _record(n, log)
        fault_at = rng.uniform(0, 5)
        until = rng.choice([None, fault_at + rng.uniform(0, 10)])
        per_client = [
            sorted(rng.uniform(0, 20) for _ in range(rng.randint(0, 12))) for _ in range(n)
        ]
        obs = [req(t, c, rng.choice(["eu", "eu", "us"])) for c, ts in enumerate(per_client)
               for t in ts]  # fmt: skip
        # observed in a live order: each client's in time order, clients interleaved
        live = sorted(obs, key=lambda o: o.t + 0.3 * (o.client % 3))
        # the fault and the recovery take effect in time; requests begun before them may be
        # observed after them (they were in flight)
        steps = [(fault_at, "kill")] + ([] if until is None else [(until, "restart")])
        for o in live:
            while steps and o.t + 0.3 * (o.client % 3) >= steps[0][0]:
                at, action = steps.pop(0)
                rec.fault_step(at, "eu", action, action, action)
            rec.observe(o)
        for at, action in steps:
            rec.fault_step(at, "eu", action, action, action)
        rec.end = 20.0
        rec.conclude()
        reqs = requests(rec.observations)
        w = stale_windows(reqs, "eu", fault_at, until)
        ref = _reference(reqs, "eu", fault_at, until)
        assert w.affected == ref.affected and w.censored == ref.censored, trial
        got = _last(log)
        assert {c: e.window_s for c, e in got.items()} == w.affected, trial
        assert {c for c, e in got.items() if e.censored} == w.censored, trial
