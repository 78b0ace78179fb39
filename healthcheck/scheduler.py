"""The probe scheduler (asyncio shell): one task per region.

Each task probes, records, then sleeps until ``started + interval·(1 + u)`` with ``u`` uniform in
``[-jitter, +jitter]``. A probe never overlaps the next (the loop is sequential and the timeout
is at most the interval), and the first round starts at once — no jitter before the first
probe — so the ``unknown`` startup state lasts at most one timeout.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Awaitable, Callable

from healthcheck.checker import Checker
from healthcheck.probe import Target, probe, tls_context
from healthcheck.state import ProbeResult, next_start

__all__ = ["next_start", "probe_loop"]


ProbeFn = Callable[[Target], Awaitable[ProbeResult]]


async def probe_loop(
    checker: Checker,
    target: Target,
    rng: random.Random,
    mono: Callable[[], float] = time.monotonic,
    ssl_ctx: ssl.SSLContext | None = None,
    probe_fn: ProbeFn | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Probe ``target`` forever; ``probe_fn``/``sleep`` are injectable for virtual-time tests."""
    s = checker.settings

    async def real_probe(t: Target) -> ProbeResult:
        return await probe(t, s, ssl_ctx, mono)

    run = probe_fn or real_probe
    while True:
        result = await run(target)
        checker.record(target.region, result)
        wake = next_start(result.started, s.interval, s.jitter, rng.uniform(-1, 1))
        await sleep(max(0.0, wake - mono()))


def start_all(
    checker: Checker, targets: list[Target], seed: int | None = None
) -> list[asyncio.Task[None]]:
    rng = random.Random(seed)
    ctx = (
        tls_context(checker.settings.verify_tls)
        if any(t.kind == "https" for t in targets)
        else None
    )
    return [
        asyncio.create_task(probe_loop(checker, t, rng, ssl_ctx=ctx), name=f"probe {t.region}")
        for t in targets
    ]
