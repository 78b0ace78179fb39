"""The health view: quorum, overrides, startup assumption, next possible change (hand-computed)."""

from __future__ import annotations

import math

from authoritative.health import HealthInputs, HealthRules, Observation, compute_view, next_change

RULES = HealthRules(interval=2.0, fall=3, rise=2, assume="up", quorum="majority")
REGIONS = ("us-east", "eu-west")


def inputs(*checkers: str) -> HealthInputs:
    return HealthInputs(checkers=checkers, regions=REGIONS, started=100.0)


def test_no_report_means_assumed_state_and_could_change_now() -> None:
    view = compute_view(inputs("a"), RULES, now=101.0)
    h = view["eu-west"]
    assert h.up and h.since == 100.0 and h.next_change == 101.0
    assert "assumed up" in h.why
    down = compute_view(inputs("a"), HealthRules(assume="down"), now=101.0)
    assert not down.is_up("eu-west")


def test_one_checker_next_change_is_threshold_probes_after_its_last_probe() -> None:
    i = inputs("a").report("a", "eu-west", Observation(up=True, since=90.0, at=110.0))
    # up, fall 3, interval 2: three failures after the probe at 110 -> 116
    assert compute_view(i, RULES, now=111.0)["eu-west"].next_change == 116.0
    i = i.report("a", "eu-west", Observation(up=True, since=90.0, at=110.0, streak=2))
    assert compute_view(i, RULES, now=111.0)["eu-west"].next_change == 112.0
    i = i.report("a", "eu-west", Observation(up=False, since=110.0, at=110.0))
    # down, rise 2: two successes -> 114
    h = compute_view(i, RULES, now=111.0)["eu-west"]
    assert (h.up, h.since, h.next_change) == (False, 110.0, 114.0)


def test_after_the_estimate_passes_the_next_probe_on_the_grid_could_change_it() -> None:
    obs = Observation(up=True, since=90.0, at=110.0, next_change=116.0)
    assert next_change(obs, RULES, now=115.0) == 116.0
    assert next_change(obs, RULES, now=117.0) == 118.0  # probes at 112, 114, 116, 118 ...
    assert next_change(obs, RULES, now=118.0) == 120.0


def test_quorum_two_of_three_and_when_it_could_flip() -> None:
    i = inputs("a", "b", "c")
    i = i.report("a", "eu-west", Observation(True, 50.0, 110.0))  # could fall at 116
    i = i.report("b", "eu-west", Observation(True, 60.0, 111.0))  # could fall at 117
    i = i.report("c", "eu-west", Observation(False, 70.0, 111.5))  # could rise at 115.5
    h = compute_view(i, RULES, now=112.0)["eu-west"]
    assert h.up and "2 of 3 checkers say up; needs 2 of 3 (majority)" in h.why
    # up with 2 votes, needs 2: one flip of an up voter changes it -> earliest of 116, 117
    assert h.next_change == 116.0
    assert h.since == 60.0  # the 2nd checker to say up did so at 60
    # the other c (unknown) votes the assumption (up) -> 3 of 3; needs 2 flips -> 117
    i2 = inputs("a", "b", "c")
    i2 = i2.report("a", "eu-west", Observation(True, 50.0, 110.0))
    i2 = i2.report("b", "eu-west", Observation(True, 60.0, 111.0))
    h2 = compute_view(i2, RULES, now=112.0)["eu-west"]
    assert h2.up and h2.next_change == 116.0  # c (assumed) could flip now, then a at 116


def test_route53_rule_is_more_than_18_percent() -> None:
    rules = HealthRules(quorum="route53")
    assert [rules.needed(n) for n in (1, 3, 5, 6, 10, 16)] == [1, 1, 1, 2, 2, 3]
    i = inputs(*"abcdef")
    for c in "bcdef":
        i = i.report(c, "eu-west", Observation(False, 1.0, 1.0))
    i = i.report("a", "eu-west", Observation(True, 1.0, 1.0))
    assert not compute_view(i, rules, now=2.0).is_up("eu-west")  # 1 of 6 = 16.7%
    i = i.report("b", "eu-west", Observation(True, 1.0, 1.0))
    assert compute_view(i, rules, now=2.0).is_up("eu-west")  # 2 of 6 = 33%


def test_forced_override_wins_and_never_changes_by_itself() -> None:
    i = inputs("a").report("a", "eu-west", Observation(True, 1.0, 1.0)).force("eu-west", False, 5.0)
    h = compute_view(i, RULES, now=6.0)["eu-west"]
    assert (h.up, h.forced, h.since, h.next_change) == (False, True, 5.0, math.inf)
    assert "forced down" in h.why
    cleared = i.force("eu-west", None, 7.0)
    assert compute_view(cleared, RULES, now=8.0).is_up("eu-west")


def test_dead_feed_keeps_last_word_but_could_change_now() -> None:
    i = inputs("a").report("a", "eu-west", Observation(False, 1.0, 10.0)).connection("a", False)
    h = compute_view(i, RULES, now=11.0)["eu-west"]
    assert not h.up and h.next_change == 11.0 and "feed down, last word kept: a" in h.why
    assert compute_view(i.connection("a", True), RULES, now=11.0)["eu-west"].next_change == 14.0


def test_rtts_per_vantage() -> None:
    i = inputs("a", "b").report("a", "us-east", Observation(True, 1.0, 1.0, rtt=0.010))
    i = i.report("b", "us-east", Observation(True, 1.0, 1.0, rtt=0.050))
    assert compute_view(i, RULES, now=2.0)["us-east"].rtts == {"a": 0.010, "b": 0.050}


def test_forget_returns_a_checker_to_the_assumption() -> None:
    i = inputs("a").report("a", "eu-west", Observation(False, 1.0, 1.0))
    i = i.report("a", "us-east", Observation(False, 1.0, 1.0))
    one = i.forget("a", "eu-west")
    assert compute_view(one, RULES, now=2.0).is_up("eu-west")
    assert not compute_view(one, RULES, now=2.0).is_up("us-east")
    assert compute_view(i.forget("a"), RULES, now=2.0).is_up("us-east")
