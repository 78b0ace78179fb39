"""Drill reports say which TTL arithmetic the lab resolver used (issue 12: Unbound's whole
seconds by default, the exact clock as an option)."""

from __future__ import annotations

import pytest

from lab.drill.report import render_summary, ttl_clock_line
from lab.drill.results import summarise
from lab.drill.scenario import load_scenario
from lab.drill.sim import simulate
from resolver.settings import ResolverSettings


@pytest.mark.parametrize(
    ("settings", "said"),
    [
        (ResolverSettings(), "ttl-clock = seconds (Unbound's whole seconds)"),
        (ResolverSettings(ttl_clock="exact"), "ttl-clock = exact (the exact instant)"),
    ],
)
def test_simulated_drill_reports_the_resolver_ttl_clock(
    settings: ResolverSettings, said: str
) -> None:
    sc = load_scenario(None)
    run = summarise(simulate(sc, sc.ttls[0], resolver=settings))
    assert run["ttl_clock"] == settings.ttl_clock
    assert said in render_summary([run])


def test_a_run_without_a_recorded_clock_says_so() -> None:
    assert (
        ttl_clock_line([{"ttl_clock": None}]) == "lab resolver TTL clock: ttl-clock = not recorded"
    )
