"""The probe loop on a virtual clock: spacing, no overlap, jitter bounds, results recorded."""

from __future__ import annotations

import asyncio
import itertools
import random

import pytest
from prometheus_client import CollectorRegistry

from healthcheck.checker import Checker
from healthcheck.probe import Target
from healthcheck.scheduler import probe_loop
from healthcheck.settings import CheckSettings
from healthcheck.state import ProbeResult
from lab.clock import VirtualClock


class Stop(Exception):
    pass


def run_loop(
    settings: CheckSettings, durations: list[float]
) -> tuple[list[tuple[float, float]], Checker]:
    clock = VirtualClock(1000.0)
    checker = Checker("vp", settings, ["eu"], CollectorRegistry(), mono_start=1000.0, to_wall=0.0)
    spans: list[tuple[float, float]] = []
    pending = list(durations)

    async def fake_probe(t: Target) -> ProbeResult:
        start = clock.now()
        took = min(pending.pop(0), settings.effective_timeout)
        clock.advance(took)
        spans.append((start, clock.now()))
        return ProbeResult(took < settings.effective_timeout, start, clock.now(), "x", took)

    async def fake_sleep(seconds: float) -> None:
        if not pending:
            raise Stop
        clock.advance(seconds)

    target = Target("eu", "http", "127.0.0.1", 1)
    with pytest.raises(Stop):
        asyncio.run(
            probe_loop(
                checker, target, random.Random(3), clock.now, probe_fn=fake_probe, sleep=fake_sleep
            )
        )
    return spans, checker


def test_probes_start_every_interval_and_never_overlap() -> None:
    s = CheckSettings(interval=2.0, timeout=1.0, fall=2)
    spans, checker = run_loop(s, [0.01, 0.5, 5.0, 5.0, 0.2])  # two timeouts (capped at 1 s)
    starts = [a for a, _ in spans]
    assert [round(b - a, 6) for a, b in itertools.pairwise(starts)] == [2.0] * 4
    assert all(end <= nxt for (_, end), nxt in zip(spans, starts[1:], strict=False))
    h = checker.health["eu"]
    assert h.probes == 5 and h.state == "down" and h.transitions == 2  # unknown→up→down


def test_jitter_keeps_spacing_within_bounds() -> None:
    s = CheckSettings(interval=1.0, jitter=0.2)
    spans, _ = run_loop(s, [0.01] * 200)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(spans)]
    assert min(gaps) >= 0.8 - 1e-9 and max(gaps) <= 1.2 + 1e-9
    assert max(gaps) - min(gaps) > 0.2  # it really spreads
