"""TTL policy: fixed, and dynamic (gdnsd DYNA) with hand-computed values (the docs/geodns.md example)."""

from __future__ import annotations

import math

from authoritative.health import HealthInputs, HealthRules, Observation, compute_view
from authoritative.ttl import answer_ttl, dynamic_ttl
from lab.config import Service

RULES = HealthRules(interval=10.0, fall=3, rise=2, quorum="all")


def dyn(lo: int = 5, hi: int = 60) -> Service:
    return Service(
        name="www.x.", order={"default": ("a",)}, ttl_policy="dynamic", ttl_min=lo, ttl_max=hi
    )


def test_dynamic_ttl_clamps_and_says_how_long_it_holds() -> None:
    assert dynamic_ttl(130.0, 101.5, 5, 60) == (28, 102.0)  # 28.5 s -> 28, holds until 130-28
    assert dynamic_ttl(300.0, 100.0, 5, 60) == (60, 240.0)  # 200 s -> clamped to 60
    assert dynamic_ttl(103.0, 100.0, 5, 60) == (5, math.inf)  # 3 s -> min 5 forever
    assert dynamic_ttl(math.inf, 100.0, 5, 60) == (60, math.inf)


def test_fixed_ttl() -> None:
    s = Service(name="www.x.", order={"default": ("a",)}, ttl=42)
    view = compute_view(HealthInputs(("c",), ("a",), 0.0), RULES, now=0.0)
    assert answer_ttl(s, ("a",), view, now=1.0).ttl == 42


def test_dynamic_ttl_follows_the_regions_that_decided() -> None:
    i = HealthInputs(("c",), ("a", "b"), 0.0)
    i = i.report("c", "a", Observation(False, 50.0, 100.0))  # down: rise 2 x 10 s -> 120
    i = i.report("c", "b", Observation(True, 50.0, 104.0))  # up: fall 3 x 10 s -> 134
    view = compute_view(i, RULES, now=105.0)
    # a down, b chosen: both decided; a could come back first, at 120 -> 15 s at t=105
    d = answer_ttl(dyn(), ("a", "b"), view, now=105.0)
    assert d.ttl == 15 and "a could change in 15.0s" in d.why
    assert answer_ttl(dyn(), ("b",), view, now=105.0).ttl == 29  # 134 - 105
    assert answer_ttl(dyn(hi=20), ("b",), view, now=105.0).ttl == 20
    assert answer_ttl(dyn(lo=30), ("b",), view, now=105.0).ttl == 30


def test_forced_regions_give_the_maximum_and_unknown_the_minimum() -> None:
    i = HealthInputs(("c",), ("a",), 0.0)
    view = compute_view(i, RULES, now=1.0)
    assert answer_ttl(dyn(), ("a",), view, now=1.0).ttl == 5  # assumed: could change any moment
    forced = compute_view(i.force("a", True, 1.0), RULES, now=1.0)
    assert answer_ttl(dyn(), ("a",), forced, now=1.0).ttl == 60
