"""The virtual-time driver: requests accounted in bulk give exactly what one-by-one gives, and
busy TTL-honouring clients match the closed form of DESIGN.md (issue 9 acceptance)."""

from __future__ import annotations

import math
import statistics

import pytest

from lab.drill import model
from lab.drill.measure import requests, stale_windows
from lab.drill.scenario import parse_scenario
from lab.drill.sim import simulate_cell
from lab.sim.run import RunSpec
from lab.sim.sweep import SweepAxes, grid, run_cell

MIXED = """
clients = 160
request_interval = 0.7
seed = 9
[locations]
eu = 0.5
na = 0.5
[profiles]
"honours-ttl" = 2
"min-ttl:40" = 1
"fixed:25" = 1
"prefetch" = 1
"serve-stale" = 1
"direct" = 1
"shared-resolver" = 1
pinned = 1
[checks]
interval = 2.0
fall = 3
rise = 2
timeout = 1.0
[[faults]]
at = 100.0
action = "kill"
region = "eu-west"
[[faults]]
at = 160.0
action = "restart"
region = "eu-west"
"""


@pytest.mark.slow
@pytest.mark.parametrize("ttl", [7, 30])
def test_bulk_accounting_equals_request_by_request(ttl: int) -> None:
    """Same seed, with and without per-request observations (no skipping over resolutions):
    the same windows, censoring, requests, resolutions and failures for every client."""
    sc = parse_scenario(MIXED)
    spec = RunSpec(ttl, horizon=400.0)
    fast = simulate_cell(sc, spec)
    slow = simulate_cell(sc, spec, observations=True)
    assert fast.windows.affected == pytest.approx(slow.windows.affected)
    assert fast.windows.censored == slow.windows.censored
    for a, b in zip(fast.results, slow.results, strict=True):
        assert (a.requests, a.resolutions, a.failed) == (b.requests, b.resolutions, b.failed), a
    rec = slow.record
    assert rec.dead_region == "eu-west" and rec.fault_at is not None
    # and the observations, measured the drill's way, give the same windows again
    w = stale_windows(requests(rec.observations), "eu-west", rec.fault_at, rec.recovered_at)
    assert w.affected == pytest.approx(fast.windows.affected)
    assert w.censored == fast.windows.censored


CLOSED_FORM = """
clients = {clients}
request_interval = 0.1
seed = 5
[locations]
eu = 1
[profiles]
"honours-ttl" = 1
[[faults]]
at = 20.0
action = "kill"
"""


@pytest.mark.parametrize("ttl", [30, 60, 300])
@pytest.mark.parametrize(("interval", "fall"), [(0.5, 3), (5.0, 2)])
def test_busy_ttl_honouring_clients_match_the_closed_form(
    ttl: int, interval: float, fall: int
) -> None:
    """max ≈ F·I + τ + TTL, mean ≈ (F - ½)·I + τ + TTL/2 (τ = 50 ms propagation, kill: no probe
    latency). A measured window ends at the client's last request before expiry, on average
    half a request interval earlier. Per replicate the detection D is one draw, uniform over
    [(F-1)·I, F·I] (sd I/√12); the residual cache life of N stratified clients averages TTL/2
    within TTL/N. With K replicates the mean's standard error is I/√(12K): the tolerance is
    4 of those plus TTL/N and one request interval."""
    clients, k, r = 400, 8, 0.1
    sc = parse_scenario(CLOSED_FORM.format(clients=clients))
    axes = SweepAxes(ttl=[ttl], interval=[interval], fall=[fall], timeout=[interval / 2])
    [cell] = grid(sc, axes.model_copy(update={"replicates": k}))
    runs = [run_cell(cell, sc, axes, None, i, False)[0] for i in range(k)]
    check = model.CheckParams(interval, fall, interval / 2)
    pred = model.window(check, model.PROPAGATION_GUESS_S, ttl)
    assert pred.mean_s is not None and pred.max_s is not None
    assert all(run["cut"] == 0 and run["clients_affected"] == clients for run in runs)
    se = interval / math.sqrt(12 * k)
    tol = 4 * se + ttl / clients + r
    means = [run["window_mean_s"] for run in runs]
    maxes = [run["window_max_s"] for run in runs]
    assert statistics.fmean(means) == pytest.approx(pred.mean_s - r / 2, abs=tol)  # type: ignore[arg-type]
    # the max is a bound in every replicate, and on average half an interval below it
    assert max(maxes) <= pred.max_s + 1e-6  # type: ignore[type-var]
    assert statistics.fmean(maxes) == pytest.approx(pred.max_s - interval / 2, abs=tol)  # type: ignore[arg-type]
    dets = [run["detection_s"] for run in runs]
    assert all((fall - 1) * interval - 1e-9 <= d <= fall * interval + 1e-9 for d in dets)  # type: ignore[operator]


def test_poisson_arrivals_keep_the_rate_and_the_closed_form() -> None:
    """Poisson arrivals (mean gap r): each client makes horizon/r requests give or take a few
    standard deviations; the last request before expiry is on average one gap r early (the
    backward recurrence time of a Poisson process), so mean ≈ model - r."""
    clients, k, r, ttl, interval = 300, 6, 0.5, 30, 1.0
    sc = parse_scenario(CLOSED_FORM.format(clients=clients)).model_copy(
        update={"request_interval": r}
    )
    axes = SweepAxes(
        ttl=[ttl], interval=[interval], fall=[3], timeout=[0.5], rate=[1 / r], arrivals=["poisson"]
    )
    [cell] = grid(sc, axes.model_copy(update={"replicates": k}))
    assert cell.arrivals == "poisson"
    runs = [run_cell(cell, sc, axes, None, i, False)[0] for i in range(k)]
    pred = model.window(model.CheckParams(interval, 3, 0.5), model.PROPAGATION_GUESS_S, ttl)
    assert pred.mean_s is not None
    horizon = sc.first_fault_at + 3 * interval + 0.5 + 0.05 + ttl + max(sc.tail, 2 * r)
    expected = clients * horizon / r
    for run in runs:
        assert run["requests"] == pytest.approx(expected, abs=5 * math.sqrt(expected) + clients)
    tol = 4 * interval / math.sqrt(12 * k) + ttl / clients + r
    mean = statistics.fmean(run["window_mean_s"] for run in runs)  # type: ignore[misc]
    assert mean == pytest.approx(pred.mean_s - r, abs=tol)
