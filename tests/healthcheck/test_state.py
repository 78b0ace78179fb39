from __future__ import annotations

import random

import pytest

from healthcheck import state as S
from healthcheck.settings import CheckSettings
from lab.clock import VirtualClock

SET = CheckSettings(interval=1.0, fall=3, rise=2)


def feed(
    h: S.RegionHealth, oks: list[bool], clock: VirtualClock, s: CheckSettings = SET
) -> tuple[S.RegionHealth, list[S.Transition]]:
    out = []
    for ok in oks:
        start = clock.now()
        r = S.ProbeResult(ok, start, start + 0.01, "status 200" if ok else "connect refused")
        h, t = S.step(h, r, s)
        if t is not None:
            out.append(t)
        clock.advance(s.interval)
    return h, out


def test_unknown_until_first_result_which_decides() -> None:
    clock = VirtualClock(100.0)
    h = S.initial("eu", SET, clock.now())
    assert h.state == "unknown" and h.reason == "no probe yet"
    h, ts = feed(h, [False], clock)
    assert h.state == "down"
    assert ts == [
        S.Transition("eu", "unknown", "down", 100.01, "first probe failed: connect refused")
    ]
    h2, ts2 = feed(S.initial("us", SET, 0.0), [True], VirtualClock())
    assert h2.state == "up" and ts2[0].previous == "unknown"


def test_fall_then_rise_with_reasons() -> None:
    clock = VirtualClock()
    h, _ = feed(S.initial("eu", SET, 0.0), [True], clock)
    h, ts = feed(h, [False, False], clock)
    assert h.state == "up" and ts == [] and h.fail_streak == 2
    h, ts = feed(h, [False], clock)
    assert h.state == "down"
    assert ts[0].reason == "3 consecutive failures: connect refused"
    assert h.since == pytest.approx(3.01)
    h, ts = feed(h, [True, False, True], clock)
    assert h.state == "down" and ts == []  # a failure resets the rise streak
    h, ts = feed(h, [True], clock)
    assert h.state == "up" and ts[0].reason == "2 consecutive successes: status 200"
    assert h.transitions == 3 and h.probes == 8 and h.failures == 4


@pytest.mark.parametrize("initial", ["up", "down"])
def test_assumed_initial_state_needs_full_streak(initial: S.State) -> None:
    s = CheckSettings(interval=1.0, fall=3, rise=2, initial=initial)
    h = S.initial("eu", s, 0.0)
    assert h.state == initial and "assumed" in h.reason
    flip = [False] * 3 if initial == "up" else [True] * 2
    h, ts = feed(h, flip[:-1], VirtualClock(), s)
    assert ts == [] and h.state == initial
    h, ts = feed(h, flip[-1:], VirtualClock(10), s)
    assert len(ts) == 1 and ts[0].previous == initial


def test_next_change_at_counts_remaining_streak() -> None:
    s = CheckSettings(interval=2.0, fall=3, rise=2, jitter=0.25)
    clock = VirtualClock(10.0)
    h, _ = feed(S.initial("eu", s, 10.0), [True], clock, s)
    # up, no failures yet: 3 more failures, earliest 3 probes of spacing 2·0.75 after start 10
    assert h.next_change_at == pytest.approx(10 + 3 * 1.5)
    h, _ = feed(h, [False], clock, s)  # started at 12
    assert h.next_change_at == pytest.approx(12 + 2 * 1.5)
    h, _ = feed(h, [False, False], clock, s)  # down at the probe started at 16
    assert h.state == "down" and h.next_change_at == pytest.approx(16 + 2 * 1.5)


def test_flapping_never_outpaces_thresholds() -> None:
    rng = random.Random(7)
    s = CheckSettings(interval=1.0, fall=3, rise=2)
    for _ in range(200):
        h = S.initial("eu", s, 0.0)
        results = [rng.random() < 0.5 for _ in range(60)]
        probes_since_change = 0
        for i, ok in enumerate(results):
            h, t = S.step(h, S.ProbeResult(ok, float(i), i + 0.01, "x"), s)
            probes_since_change += 1
            if t is not None and t.previous != "unknown":
                need = s.fall if t.state == "down" else s.rise
                assert probes_since_change >= need
                # the last `need` results all agree with the new state
                assert all(r == (t.state == "up") for r in results[i - need + 1 : i + 1])
            if t is not None:
                probes_since_change = 0


def test_streak_since_marks_the_first_result_of_the_current_streak() -> None:
    clock = VirtualClock()
    h, _ = feed(S.initial("eu", SET, 0.0), [True, True], clock)
    assert h.streak_since == pytest.approx(0.01)  # both successes: one streak since the first
    h, _ = feed(h, [False], clock)  # the failure streak starts with the probe at t=2
    assert h.streak_since == pytest.approx(2.01)
    h, ts = feed(h, [False, False], clock)
    # the down decision at t=4 rests on failures since t=2: a fault injected at t=3 would
    # look detected "early" — streak_since tells a drill the failures began before it
    assert ts[0].state == "down" and h.streak_since == pytest.approx(2.01)
