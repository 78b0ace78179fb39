"""Run one region process: the app on ``--listen`` (faults apply) and an optional ``--control``
port (never faulted, never closed) — the way back from ``down`` without a ``duration``.

With ``--tls-cert``/``--tls-key`` the main listener speaks HTTPS (the control port stays HTTP).
The ``down`` fault really closes the main listening socket (connection refused) and drops its
open connections; when ``down`` is cleared or its ``duration`` ends the socket is re-bound on the
same address. Reconciliation happens on every fault change and at each fault's expiry time.
If the re-bind fails (another process took the address meanwhile) the region says so — the
fault API answers 503 with the error, ``GET /`` and ``GET /v1/faults`` show ``listening`` —
and retries every ``REOPEN_RETRY_S`` until it has its address back or ``down`` is posted again.

With a lab secret the region proves itself in ``/healthz`` and its fault API takes a token
(``lab.auth``; docs/security.md).
"""

from __future__ import annotations

import asyncio
import ssl
import sys

from prometheus_client import CollectorRegistry

from lab.auth import control_token, derive
from lab.errors import ConfigError
from lab.stopping import stop_on_signals
from regions import faults as F
from regions.app import RegionRuntime, create_app
from regions.serving import Serving, bind

REOPEN_RETRY_S = 0.2


async def run_region(
    name: str,
    listen: tuple[str, int],
    control: tuple[str, int] | None = None,
    tls: ssl.SSLContext | None = None,
    secret: bytes | None = None,
) -> None:
    main_sock = bind(*listen, flag="--listen")
    control_sock = bind(*control, flag="--control") if control else None
    rt = RegionRuntime(
        name=name,
        registry=CollectorRegistry(),
        control_port=control[1] if control else None,
        key=derive(secret, "region", name) if secret is not None else None,
        token=control_token(secret, name) if secret is not None else None,
    )
    serving = Serving(create_app(rt))
    loop = asyncio.get_running_loop()
    timer: list[asyncio.TimerHandle] = []
    reopening: list[asyncio.Task[None]] = []
    first_try: list[asyncio.Future[None]] = []

    async def reopen(tried: asyncio.Future[None]) -> None:
        """Bind the address again until it works or the listener should stay closed."""
        while F.listening(rt.state, rt.clock()) and not serving.is_open(listen):
            rt.reopen_attempts += 1
            try:
                await serving.open(listen)
                rt.listener_open, rt.listener_error = True, None
            except (ConfigError, OSError) as exc:
                rt.listener_error = str(exc)
                print(f"region {name}: reopen failed, retrying: {exc}", file=sys.stderr, flush=True)
            if not tried.done():
                tried.set_result(None)
            if not serving.is_open(listen):
                await asyncio.sleep(REOPEN_RETRY_S)
        if not tried.done():
            tried.set_result(None)

    async def settle() -> None:
        if first_try:
            await asyncio.wait([first_try[-1]], timeout=2.0)

    rt.settle = settle

    def reconcile() -> None:
        now = rt.clock()
        want_open = F.listening(rt.state, now)
        if want_open and not serving.is_open(listen):
            if not reopening or reopening[-1].done():
                tried: asyncio.Future[None] = loop.create_future()
                first_try[:] = [tried]
                reopening[:] = [loop.create_task(reopen(tried))]
        elif not want_open and serving.is_open(listen):
            serving.close(listen)
            rt.listener_open, rt.listener_error = False, None
        elif not want_open:
            rt.listener_error = None
        rt.refresh_gauges()
        for handle in timer:
            handle.cancel()
        timer.clear()
        expiry = F.next_expiry(rt.state, now)
        if expiry is not None:
            timer.append(loop.call_later(max(0.0, expiry - now) + 0.001, reconcile))

    rt.on_change = reconcile
    stop = stop_on_signals("dnslab region")
    await serving.start()
    await serving.open(listen, main_sock, tls)
    if control is not None and control_sock is not None:
        await serving.open(control, control_sock)
    extra = (" tls" if tls else "") + (f" control {control[0]}:{control[1]}" if control else "")
    if secret is None:
        print(
            f"region {name}: control plane UNAUTHENTICATED (no lab secret): the fault API "
            "takes no token and /healthz proves nothing; see docs/security.md",
            file=sys.stderr,
            flush=True,
        )
    print(f"ready region {name} {listen[0]}:{listen[1]}{extra}", flush=True)
    await stop.wait()
    rt.stopping.set()  # release hung requests so the graceful shutdown is quick
    for handle in timer:
        handle.cancel()
    for task in reopening:
        task.cancel()
    await serving.stop()
    print(f"stopped region {name}", file=sys.stderr, flush=True)
