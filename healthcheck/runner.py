"""Run one checker process: the scheduler plus the HTTP API on ``--listen``."""

from __future__ import annotations

import asyncio
import contextlib
import sys

from prometheus_client import CollectorRegistry

from healthcheck.api import create_app
from healthcheck.checker import Checker
from healthcheck.probe import Target
from healthcheck.scheduler import start_all
from healthcheck.settings import CheckSettings
from lab.stopping import stop_on_signals
from regions.serving import Serving, bind


async def run_checker(
    name: str,
    listen: tuple[str, int],
    settings: CheckSettings,
    targets: list[Target],
    key: bytes | None = None,
) -> None:
    sock = bind(*listen, flag="--listen")
    checker = Checker(name, settings, [t.region for t in targets], CollectorRegistry())
    serving = Serving(create_app(checker, key=key))
    stop = stop_on_signals("dnslab healthcheck")
    await serving.start()
    await serving.open(listen, sock)
    tasks = start_all(checker, targets)
    if key is None:
        print(
            f"healthcheck {name}: control plane UNAUTHENTICATED (control.auth = 'off'): events are "
            "unsigned and region answers unproven; see docs/security.md",
            file=sys.stderr,
            flush=True,
        )
    print(f"ready healthcheck {name} {listen[0]}:{listen[1]}", flush=True)
    await stop.wait()
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await t
    checker.close()
    await serving.stop()
    print(f"stopped healthcheck {name}", file=sys.stderr, flush=True)
