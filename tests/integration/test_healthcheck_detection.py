"""Acceptance: a SIGKILLed region is marked down within fall·interval + timeout + 0.2 s.

20 trials run at once: 20 region processes, one checker (interval 0.5 s, timeout 0.3 s, fall 3),
one SSE subscriber (``HealthFeed``). Kills are spaced 0.137 s apart so they land at every phase
of the 0.5 s probe grid. Detection is measured twice per trial: kill → the checker's event
timestamp (``at``), and kill → the SSE event's arrival at the subscriber.
"""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from healthcheck.events import StateEvent
from healthcheck.feed import HealthFeed, running
from lab.procs import Child, ProcessGroup, free_port, http_ready, tcp_ready, wait_for_async
from tests.conftest import DNSLAB

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIALS = 20
INTERVAL, TIMEOUT, FALL = 0.5, 0.3, 3
BOUND = FALL * INTERVAL + TIMEOUT + 0.2


def test_sigkill_detected_within_bound_20_trials(procs: ProcessGroup) -> None:
    regions: dict[str, tuple[Child, int]] = {}
    for i in range(TRIALS):
        port = free_port()
        name = f"r{i:02d}"
        child = procs.start(
            name, [DNSLAB, "region", "--name", name, "--listen", f"127.0.0.1:{port}"]
        )
        regions[name] = (child, port)
    for child, port in regions.values():
        procs.wait_ready(child, http_ready(f"http://127.0.0.1:{port}/healthz"), timeout=60)
    hport = free_port()
    argv = [DNSLAB, "healthcheck", "--listen", f"127.0.0.1:{hport}", "--name", "trials"]
    argv += [f"--interval={INTERVAL}", f"--timeout={TIMEOUT}", f"--fall={FALL}", "--rise=2"]
    for name, (_, port) in regions.items():
        argv += ["--target", f"{name}=http://127.0.0.1:{port}/healthz"]
    checker = procs.start("checker", argv)
    procs.wait_ready(checker, tcp_ready("127.0.0.1", hport))

    arrivals: dict[str, tuple[float, StateEvent]] = {}

    def on_event(ev: StateEvent) -> None:
        if ev.status.state == "down" and ev.status.region not in arrivals:
            arrivals[ev.status.region] = (time.time(), ev)

    feed = HealthFeed(f"http://127.0.0.1:{hport}/v1/events", on_event=on_event)
    kills: dict[str, float] = {}

    async def go() -> None:
        async with running(feed):
            await wait_for_async(
                lambda: (
                    len(feed.view) == TRIALS and all(s.state == "up" for s in feed.view.values())
                ),
                30,
                "all regions up",
            )
            for name, (child, _) in regions.items():
                kills[name] = time.time()
                child.kill()
                await asyncio.sleep(0.137)
            await wait_for_async(lambda: len(arrivals) == TRIALS, BOUND + 5, "all regions down")

    asyncio.run(go())
    by_checker = {n: arrivals[n][1].at - kills[n] for n in regions}
    by_arrival = {n: arrivals[n][0] - kills[n] for n in regions}
    summary = (
        f"detection (kill → checker event) p50 {statistics.median(by_checker.values()):.3f}s "
        f"max {max(by_checker.values()):.3f}s; (kill → SSE arrival) max "
        f"{max(by_arrival.values()):.3f}s; bound {BOUND:.2f}s"
    )
    print(summary)
    late = {n: round(d, 3) for n, d in by_arrival.items() if d > BOUND}
    assert not late, f"late detections {late}; {summary}"
    for n in regions:
        ev = arrivals[n][1]
        assert ev.previous == "up" and ev.status.reason.startswith(
            "3 consecutive failures: connect"
        )
        assert 0 < by_checker[n] <= by_arrival[n]
