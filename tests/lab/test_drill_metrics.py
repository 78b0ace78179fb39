"""The drill's exporter as an event sink, driven by the simulated drill (virtual clock).

The simulation publishes the same typed events as a live drill, so these check the sink's
arithmetic against the drill's own results (``results.summarise``) deterministically.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from lab.drill.events import (
    AnswerChanged,
    CheckerDecision,
    DelayMeasured,
    EventLog,
    FaultInjected,
    RunStarted,
    WindowClosed,
)
from lab.drill.measure import Observation
from lab.drill.metrics import WINDOW_BUCKETS, DrillMetrics, bucket_width
from lab.drill.population import Client
from lab.drill.profiles import parse_profile
from lab.drill.record import RunRecord
from lab.drill.results import summarise
from lab.drill.scenario import Scenario, load_scenario
from lab.drill.sim import simulate
from tests.observability.promql import histogram_quantile

REGIONS = ("us-east", "eu-west", "ap-south")


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    v = reg.get_sample_value(name, labels)
    assert v is not None, f"{name}{labels} not exported"
    return v


def buckets(reg: CollectorRegistry, ttl: str, scenario: str) -> list[tuple[float, float]]:
    by_le: dict[float, float] = {}
    for metric in reg.collect():
        if metric.name != "dnslab_drill_stale_window_seconds":
            continue
        for s in metric.samples:
            if s.name.endswith("_bucket") and s.labels["ttl"] == ttl:
                le = float(s.labels["le"])
                by_le[le] = by_le.get(le, 0.0) + s.value
    return sorted(by_le.items())


@pytest.fixture(scope="module")
def drill() -> tuple[Scenario, CollectorRegistry, DrillMetrics, list[dict[str, Any]]]:
    sc = load_scenario(None)
    reg = CollectorRegistry()
    sink = DrillMetrics(reg, REGIONS)
    runs = [summarise(simulate(sc, ttl, sinks=(sink,))) for ttl in (5, 30)]
    return sc, reg, sink, runs


def test_histogram_counts_every_affected_client(drill: Any) -> None:
    sc, reg, sink, runs = drill
    assert sink.mismatches == []
    for run in runs:
        ttl = str(run["ttl"])
        assert run["clients_affected"] > 10
        for name, prof in run["by_profile"].items():
            labels = {"scenario": sc.name, "ttl": ttl, "profile": name}
            count = value(reg, "dnslab_drill_stale_window_seconds_count", **labels)
            assert count == prof["clients_affected"], (ttl, name)
            censored = value(reg, "dnslab_drill_stale_windows_censored_total", **labels)
            assert censored == prof["censored"], (ttl, name)
            if prof["clients_affected"]:
                longest = value(reg, "dnslab_drill_stale_window_max_seconds", **labels)
                assert longest == pytest.approx(prof["stale_window_s"]["max"], abs=1e-3)


def test_quantiles_agree_with_results_within_a_bucket(drill: Any) -> None:
    sc, reg, _sink, runs = drill
    for run in runs:
        b = buckets(reg, str(run["ttl"]), sc.name)
        assert b[-1] == (math.inf, run["clients_affected"])
        for q, key in ((0.5, "p50"), (0.9, "p90"), (0.99, "p99")):
            est = histogram_quantile(q, b)
            measured = run["stale_window_s"][key]
            assert abs(est - measured) <= bucket_width(est), (run["ttl"], key, est, measured)


def test_requests_and_dead_region_clients(drill: Any) -> None:
    sc, reg, _sink, runs = drill
    for run in runs:
        ttl = str(run["ttl"])
        total = sum(
            value(
                reg, "dnslab_drill_requests_total", scenario=sc.name, ttl=ttl, region=r, outcome=o
            )
            for r in REGIONS
            for o in ("ok", "failed")
            if reg.get_sample_value(
                "dnslab_drill_requests_total",
                {"scenario": sc.name, "ttl": ttl, "region": r, "outcome": o},
            )
            is not None
        )
        assert total == run["requests"]
        failed = value(
            reg, "dnslab_drill_requests_total",
            scenario=sc.name, ttl=ttl, region=run["dead_region"], outcome="failed",
        )  # fmt: skip
        assert failed == run["failed_requests"]
        # the run is over: nobody is counted on the dead region any more
        for metric in reg.collect():
            if metric.name == "dnslab_drill_dead_region_clients":
                assert all(s.value == 0 for s in metric.samples if s.labels["ttl"] == ttl)
        assert value(reg, "dnslab_drill_run_active", scenario=sc.name, ttl=ttl) == 0
        det = value(reg, "dnslab_drill_detection_delay_seconds",
                    scenario=sc.name, ttl=ttl, region=run["dead_region"])  # fmt: skip
        assert det == pytest.approx(run["detection_s"], abs=1e-3)
        prop = value(reg, "dnslab_drill_propagation_delay_seconds",
                     scenario=sc.name, ttl=ttl, region=run["dead_region"])  # fmt: skip
        assert prop == pytest.approx(run["propagation_s"], abs=1e-3)
        kills = value(reg, "dnslab_drill_fault_events_total",
                      scenario=sc.name, ttl=ttl, region=run["dead_region"], action="kill")  # fmt: skip
        assert kills == 1


def test_windows_come_from_the_drills_window_closed_events_and_the_gauge_follows() -> None:
    """Driven by the drill's own producer (RunRecord.observe publishes ClientRequest and,
    as a window closes, WindowClosed): the histogram observes exactly the WindowClosed
    values, when they are published; the gauge follows the latest requests.

    Mutation: a metrics exporter that ignores WindowClosed (its old own rule deleted, nothing
    in its place) leaves the histogram empty here; one that observes every WindowClosed
    counts client 1 twice."""
    reg = CollectorRegistry()
    m = DrillMetrics(reg, REGIONS)
    log = EventLog()
    clients = [Client(i, "eu", f"127.2.0.{i + 1}", parse_profile("honours-ttl"), 0.0, 0.5)
               for i in range(3)]  # fmt: skip
    rec = RunRecord(ttl=5, scenario=load_scenario(None), clients=clients, mode="live", end=20.0)
    rec.bus.subscribe(m)
    rec.bus.subscribe(log)
    labels = {"scenario": rec.scenario.name, "ttl": "5", "location": "eu", "profile": "honours-ttl"}
    hist = {k: labels[k] for k in ("scenario", "ttl", "profile")}
    active = {"scenario": rec.scenario.name, "ttl": "5", "region": "eu-west"}

    def req(t: float, client: int, region: str, ok: bool = True) -> None:
        rec.observe(Observation(t, client, "request", f"a-{region}", region, 5, ok, "cache"))

    def closed() -> list[WindowClosed]:
        return [e for e in log.events if isinstance(e, WindowClosed)]

    rec.start()
    req(1.0, 0, "eu-west")
    req(1.0, 1, "eu-west")
    req(1.0, 2, "eu-west")
    rec.fault_step(2.0, "eu-west", "kill", "kill", "killed eu-west")
    assert value(reg, "dnslab_drill_dead_region_clients", **labels) == 3
    assert value(reg, "dnslab_drill_fault_active", **active) == 1
    req(3.0, 0, "eu-west", ok=False)
    assert value(reg, "dnslab_drill_stale_window_seconds_count", **hist) == 0
    req(4.5, 0, "us-east")  # client 0: the drill closes its window (3.0 - 2.0) now
    assert [e.window_s for e in closed()] == [pytest.approx(1.0)]
    assert value(reg, "dnslab_drill_stale_window_seconds_count", **hist) == 1
    assert value(reg, "dnslab_drill_stale_window_seconds_sum", **hist) == pytest.approx(1.0)
    assert value(reg, "dnslab_drill_dead_region_clients", **labels) == 2
    req(5.0, 1, "us-east")  # client 1: its last dead request was before the fault: 0
    assert value(reg, "dnslab_drill_stale_window_seconds_count", **hist) == 2
    assert value(reg, "dnslab_drill_dead_region_clients", **labels) == 1
    req(6.0, 1, "eu-west")  # sent back: counted on the dead region again
    assert value(reg, "dnslab_drill_dead_region_clients", **labels) == 2
    rec.fault_step(7.0, "eu-west", "restart", "restart", "restarted eu-west")
    assert value(reg, "dnslab_drill_dead_region_clients", **labels) == 0
    assert value(reg, "dnslab_drill_fault_active", **active) == 0
    rec.end = 20.0
    rec.conclude()  # client 1 revised to 4.0, client 2 never left eu-west: censored at 5.0
    final = {e.client: e for e in closed()}
    assert final[1].window_s == pytest.approx(4.0) and final[2].censored
    assert value(reg, "dnslab_drill_stale_window_seconds_count", **hist) == 3
    assert value(reg, "dnslab_drill_stale_window_seconds_sum", **hist) == pytest.approx(
        1.0 + 0.0 + final[2].window_s
    )
    assert value(reg, "dnslab_drill_stale_windows_censored_total", **hist) == 1
    assert value(reg, "dnslab_drill_stale_window_max_seconds", **hist) == pytest.approx(
        max(4.0, final[2].window_s)
    )
    assert m.mismatches == [
        "client 1: window revised from 0.000s to 4.000s after it was observed "
        "(sent to eu-west again)"
    ]
    assert value(reg, "dnslab_drill_run_active", scenario=rec.scenario.name, ttl="5") == 0


def test_buckets_cover_long_windows() -> None:
    assert list(WINDOW_BUCKETS) == sorted(WINDOW_BUCKETS)
    assert bucket_width(0.1) == 0.25 and bucket_width(7.2) == 0.5 and bucket_width(25) == 1
    assert WINDOW_BUCKETS[-1] >= 3600


def test_delays_are_live_then_final() -> None:
    """Detection when the checker's decision arrives; propagation grows as locations move
    off the dead region; the drill's own measurement at the end is the final value."""
    reg = CollectorRegistry()
    m = DrillMetrics(reg, REGIONS)
    run = {"scenario": "s", "ttl": "5", "region": "eu-west"}
    m.publish(RunStarted(0.0, 5, "live", "s", 2, 20.0))
    m.publish(AnswerChanged(1.0, "eu", ("127.0.1.1",), ("us-east",), ("127.0.2.1",)))  # before
    m.publish(FaultInjected(2.0, "eu-west", "kill", "kill"))
    m.publish(CheckerDecision(1.0, "eu-west", False, "local"))  # before the fault: not it
    assert reg.get_sample_value("dnslab_drill_detection_delay_seconds", run) is None
    m.publish(AnswerChanged(3.02, "eu", ("127.0.1.1",), ("us-east",), ("127.0.2.1",)))
    m.publish(CheckerDecision(3.0, "eu-west", False, "local"))  # arrives after the answer moved
    assert value(reg, "dnslab_drill_detection_delay_seconds", **run) == pytest.approx(1.0)
    assert value(reg, "dnslab_drill_propagation_delay_seconds", **run) == pytest.approx(0.02)
    m.publish(AnswerChanged(3.2, "na", ("127.0.1.1",), ("us-east",), ("127.0.2.1",)))
    assert value(reg, "dnslab_drill_propagation_delay_seconds", **run) == pytest.approx(0.2)
    m.publish(DelayMeasured("propagation", 0.19, "eu-west", 5))
    assert value(reg, "dnslab_drill_propagation_delay_seconds", **run) == pytest.approx(0.19)


def test_nearest_rank_percentile_shares_the_histograms_bucket() -> None:
    """For any windows, histogram_quantile over WINDOW_BUCKETS and results.json's percentile
    (lab.drill.measure.percentile, nearest rank) differ by at most the bucket's width: the
    acceptance bound, with no allowance for the gap between neighbouring windows.
    Mutation: numpy's linear interpolation ((N-1)q) back in measure.percentile fails this
    (windows on either side of a bucket edge)."""
    import random

    from lab.drill.measure import percentile

    rng = random.Random(10)
    for trial in range(400):
        n = rng.randint(1, 60)
        windows = sorted(round(rng.expovariate(1 / rng.choice((2, 8, 40))), 3) for _ in range(n))
        cumulative = [(e, float(sum(1 for w in windows if w <= e))) for e in WINDOW_BUCKETS]
        b = [*cumulative, (math.inf, float(n))]
        for q in (0.5, 0.9, 0.99):
            est, measured = histogram_quantile(q, b), percentile(windows, q * 100)
            assert abs(est - measured) <= bucket_width(est), (trial, q, windows, est, measured)
