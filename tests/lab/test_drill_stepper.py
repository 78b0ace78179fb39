"""The one client stepper both drill drivers move (lab/drill/stepper.py): pre-aged first
answer, failed lookups, background refresh (prefetch, serve-stale, one at a time, landing
when the driver says), ``until()`` and the schedule's slip.

Mutations tried, each turns tests here red: the first answer stored without its pre-age
(``store`` for ``first_entry`` in ``resolved``: 3 red); a second background refresh allowed
while one is in flight (``and not self.refreshing`` removed: 1 red); a refresh answer that
never replaces the entry (``refreshed`` without the ``store``: 2 red)."""

from __future__ import annotations

import math

import pytest

from lab.drill.profiles import PREFETCH_FRACTION, STALE_MAX_S, parse_profile
from lab.drill.stepper import Act, ClientStepper, Reply, Schedule

A = Reply(True, ("127.0.2.1",), 10)
B = Reply(True, ("127.0.1.1",), 10)
FAIL = Reply(False)


def test_first_success_is_pre_aged_later_ones_are_not() -> None:
    st = ClientStepper(parse_profile("honours-ttl"), age_fraction=0.3)
    assert st.decide(5.0).act is Act.RESOLVE
    first = st.resolved(A, 5.0)
    assert first is not None
    # 30 % of the 10 s life already gone: fetched 3 s before it arrived
    assert (first.fetched_at, first.expires_at) == pytest.approx((2.0, 12.0))
    assert st.until() == pytest.approx(12.0)
    assert st.decide(11.9).act is Act.USE
    assert st.decide(12.0).act is Act.RESOLVE
    second = st.resolved(B, 12.5)  # the answer lands when the driver says (DNS latency)
    assert second is not None and second.addrs == B.addrs
    assert (second.fetched_at, second.expires_at) == pytest.approx((12.5, 22.5))


def test_failed_lookups_fail_the_request_and_keep_the_first_answer_pre_aged() -> None:
    st = ClientStepper(parse_profile("honours-ttl"), age_fraction=0.5)
    assert st.decide(0.0).act is Act.RESOLVE
    assert st.resolved(FAIL, 0.1) is None and st.entry is None
    assert st.until() == -math.inf  # the next request is decided again
    assert st.decide(1.0).act is Act.RESOLVE
    entry = st.resolved(A, 1.0)
    assert entry is not None and entry.expires_at == pytest.approx(6.0)  # still pre-aged
    # an expired entry whose re-resolution fails stays as it was; the next request resolves
    assert st.decide(7.0).act is Act.RESOLVE
    assert st.resolved(FAIL, 7.0) is None and st.entry == entry
    assert st.decide(8.0).act is Act.RESOLVE


def test_prefetch_refreshes_once_in_the_background_and_lands_when_reported() -> None:
    st = ClientStepper(parse_profile("prefetch"), age_fraction=0.0)
    st.decide(0.0)
    st.resolved(A, 0.0)
    due = 10.0 - PREFETCH_FRACTION * 10
    assert st.until() == pytest.approx(due)
    assert st.decide(due - 0.01).act is Act.USE
    d = st.decide(due + 0.1)
    assert (d.act, d.how) == (Act.REFRESH, "prefetch")
    # while it is in flight: plain cache use, no second refresh, every request decided
    assert st.refreshing and st.until() == -math.inf
    assert st.decide(due + 0.2).act is Act.USE
    st.refreshed(B, 9.7)  # the answer landed 0.6 s after the request that started it
    assert st.entry is not None and st.entry.addrs == B.addrs
    assert (st.entry.fetched_at, st.entry.expires_at) == pytest.approx((9.7, 19.7))
    assert not st.refreshing


def test_a_failed_refresh_keeps_the_entry_and_the_next_request_refreshes_again() -> None:
    st = ClientStepper(parse_profile("prefetch"), age_fraction=0.0)
    st.decide(0.0)
    entry = st.resolved(A, 0.0)
    assert st.decide(9.5).act is Act.REFRESH
    st.refreshed(FAIL, 9.6)
    assert st.entry == entry and not st.refreshing
    assert st.decide(9.7).act is Act.REFRESH


def test_serve_stale_serves_stale_then_resolves() -> None:
    st = ClientStepper(parse_profile("serve-stale"), age_fraction=0.0)
    st.decide(0.0)
    st.resolved(A, 0.0)
    assert st.until() == pytest.approx(10.0)
    d = st.decide(11.0)
    assert (d.act, d.how) == (Act.REFRESH, "stale")
    st.refreshed(FAIL, 11.0)
    assert st.decide(10.0 + STALE_MAX_S).act is Act.RESOLVE


def test_clients_without_a_cache_resolve_every_request() -> None:
    for name in ("direct", "shared-resolver"):
        st = ClientStepper(parse_profile(name), age_fraction=0.9)
        for t in (0.0, 0.5, 1.0):
            assert st.decide(t).act is Act.RESOLVE
            assert st.resolved(A, t) is not None
            assert st.until() == -math.inf


def test_pinned_resolves_once() -> None:
    st = ClientStepper(parse_profile("pinned"), age_fraction=0.7)
    st.decide(0.0)
    st.resolved(A, 0.0)
    assert st.until() == math.inf and st.decide(1e9).act is Act.USE


def drive(profile: str, age: float, latency: float, grid: Schedule, end: float) -> list[float]:
    """A minimal driver: the request times at which the client resolved (synchronously or in
    the background), with answers landing ``latency`` after the request."""
    st = ClientStepper(parse_profile(profile), age)
    asked: list[float] = []
    pending: float | None = None  # when a background answer lands
    t = grid.start
    while t < end:
        if pending is not None and pending <= t:
            st.refreshed(A, pending)
            pending = None
        d = st.decide(t)
        if d.act is not Act.USE:
            asked.append(t)
        if d.act is Act.RESOLVE:
            st.resolved(A, t + latency)
        elif d.act is Act.REFRESH:
            pending = t + latency
        t = grid.after(t, t + latency if d.act is Act.RESOLVE else t)
    return asked


def test_a_run_resolves_on_the_expected_grid_points() -> None:
    """TTL 10 on a 1 s grid, half-aged first answer: the first entry expires at 5, then every
    10 s; with 0.5 s DNS latency each entry lands 0.5 s later and the grid shifts with it."""
    grid = Schedule(0.0, 1.0)
    assert drive("honours-ttl", 0.5, 0.0, grid, 40) == [0, 5, 15, 25, 35]
    assert drive("honours-ttl", 0.5, 0.5, grid, 40) == [0, 6, 17, 28, 39]
    # prefetch: refresh at the first request in the last second of the TTL (9 s after the
    # answer landed), the request itself still uses the old answer
    assert drive("prefetch", 0.0, 0.0, grid, 40) == [0, 9, 18, 27, 36]


def test_schedule_slips_only_when_asked() -> None:
    assert Schedule(0.0, 1.0, slip=True).after(3.0, 4.5) == 4.5
    assert Schedule(0.0, 1.0, slip=True).after(3.0, 3.2) == 4.0
    assert Schedule(0.0, 1.0).after(3.0, 4.5) == 4.0
    grid = Schedule(0.25, 0.1)
    assert grid.t(10) == pytest.approx(1.25)
    assert grid.idx(1.25) == 10 and grid.idx(1.2500001) == 11 and grid.idx(-3.0) == 0
    poisson = Schedule(0.0, 1.0, times=[0.1, 0.4, 2.0])
    assert poisson.idx(0.4) == 1 and poisson.t(3) == math.inf
