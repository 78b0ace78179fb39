from __future__ import annotations

import pytest

from lab.drill.measure import (
    Observation,
    busiest_region,
    dead_share,
    failed_after,
    percentile,
    requests,
    stale_windows,
    stats,
)


def req(t: float, client: int, region: str, ok: bool = True) -> Observation:
    return Observation(t, client, "request", f"addr-{region}", region, 5, ok)


OBS = [
    # client 0: on eu, stays stale until 3.0 after the fault at 10
    req(9.0, 0, "eu"),
    req(11.0, 0, "eu", ok=False),
    req(13.0, 0, "eu", ok=False),
    req(14.0, 0, "us"),
    # client 1: on eu, first request after the fault already moved
    req(9.5, 1, "eu"),
    req(10.5, 1, "us"),
    # client 2: never on eu
    req(9.0, 2, "us"),
    req(12.0, 2, "us"),
    # client 3: still on eu at the end
    req(9.9, 3, "eu"),
    req(15.0, 3, "eu", ok=False),
    Observation(9.0, 0, "resolve", "addr-eu", "eu", 5, True),
]


def test_stale_windows_affected_and_censored() -> None:
    w = stale_windows(requests(OBS), "eu", 10.0)
    assert w.affected == {0: 3.0, 1: 0.0, 3: 5.0}
    assert w.censored == frozenset({3})


def test_client_first_sent_to_dead_region_after_fault_is_affected() -> None:
    w = stale_windows(requests([req(10.2, 7, "eu")]), "eu", 10.0)
    assert w.affected == {7: pytest.approx(0.2)}


def test_busiest_and_failed() -> None:
    reqs = requests(OBS)
    assert busiest_region(reqs, 10.0) == "eu"
    assert busiest_region(reqs, 0.0) is None
    assert failed_after(reqs, 10.0) == 3


def test_dead_share_over_time() -> None:
    share = dead_share(requests(OBS), "eu", 9.0, 15.0, 1.0)
    assert [t for t, _ in share] == [9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0]
    assert share[1][1] == pytest.approx(3 / 4)  # at 10: clients 0,1,3 on eu, 2 on us
    assert share[-1][1] == pytest.approx(1 / 4)


def test_percentiles_are_nearest_rank() -> None:
    """ceil(q/100 * N)-th smallest. Mutation: numpy's linear interpolation gives 2.5 and 3.7."""
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 50) == 2.0  # rank ceil(2.0) = 2
    assert percentile(xs, 90) == 4.0  # rank ceil(3.6) = 4
    assert percentile(xs, 0) == 1.0 and percentile(xs, 100) == 4.0
    twenty = [float(i) for i in range(1, 21)]
    assert [percentile(twenty, q) for q in (50, 90, 99)] == [10.0, 18.0, 20.0]
    assert percentile([float(i) for i in range(1, 101)], 7) == 7.0  # not 8 from float noise
    s = stats([4.0, 1.0, 3.0, 2.0])
    assert (s.n, s.max, s.mean) == (4, 4.0, 2.5)
    assert stats([]).n == 0
