"""Run one region process: the app on ``--listen`` (faults apply) and an optional ``--control``
port (never faulted, never closed) — the way back from ``down`` without a ``duration``.

With ``--tls-cert``/``--tls-key`` the main listener speaks HTTPS (the control port stays HTTP).
The ``down`` fault really closes the main listening socket (connection refused) and drops its
open connections; when ``down`` is cleared or its ``duration`` ends the socket is re-bound on the
same address. Reconciliation happens on every fault change and at each fault's expiry time.
"""

from __future__ import annotations

import asyncio
import ssl
import sys

from prometheus_client import CollectorRegistry

from regions import faults as F
from regions.app import RegionRuntime, create_app
from regions.serving import Serving, bind, stop_event_on_signals


async def run_region(
    name: str,
    listen: tuple[str, int],
    control: tuple[str, int] | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    main_sock = bind(*listen, flag="--listen")
    control_sock = bind(*control, flag="--control") if control else None
    rt = RegionRuntime(
        name=name,
        registry=CollectorRegistry(),
        control_port=control[1] if control else None,
    )
    serving = Serving(create_app(rt))
    loop = asyncio.get_running_loop()
    timer: list[asyncio.TimerHandle] = []
    reopening: set[asyncio.Task[None]] = set()

    def reconcile() -> None:
        now = rt.clock()
        want_open = F.listening(rt.state, now)
        if want_open and not serving.is_open(listen):
            task = loop.create_task(serving.open(listen))
            reopening.add(task)
            task.add_done_callback(reopening.discard)
        elif not want_open and serving.is_open(listen):
            serving.close(listen)
        rt.refresh_gauges()
        for handle in timer:
            handle.cancel()
        timer.clear()
        expiry = F.next_expiry(rt.state, now)
        if expiry is not None:
            timer.append(loop.call_later(max(0.0, expiry - now) + 0.001, reconcile))

    rt.on_change = reconcile
    stop = stop_event_on_signals()
    await serving.start()
    await serving.open(listen, main_sock, tls)
    if control is not None and control_sock is not None:
        await serving.open(control, control_sock)
    extra = (" tls" if tls else "") + (f" control {control[0]}:{control[1]}" if control else "")
    print(f"ready region {name} {listen[0]}:{listen[1]}{extra}", flush=True)
    await stop.wait()
    rt.stopping.set()  # release hung requests so the graceful shutdown is quick
    for handle in timer:
        handle.cancel()
    await serving.stop()
    print(f"stopped region {name}", file=sys.stderr, flush=True)
