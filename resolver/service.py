"""Run the resolver until SIGTERM/SIGINT: listener, metrics endpoint, ``ready`` line."""

from __future__ import annotations

import asyncio
import os
import sys
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from lab.errors import ConfigError
from lab.stopping import stop_on_signals
from resolver.core import ResolverCore
from resolver.metrics import ResolverMetrics
from resolver.server import ResolverServer, WallPhaseClock
from resolver.settings import ResolverSettings, ecs_enabled, split_host_port
from resolver.upstream import Upstream


def build(settings: ResolverSettings, registry: CollectorRegistry) -> ResolverServer:
    core = ResolverCore(settings)
    host, port = split_host_port(settings.upstream)
    upstream = Upstream(
        host,
        port,
        timeout=settings.upstream_timeout_ms / 1000,
        retries=settings.outbound_msg_retry,
        tcp_only=settings.tcp_upstream,
    )
    metrics = ResolverMetrics(registry, lambda: len(core.cache))
    clock = WallPhaseClock() if settings.ttl_clock == "seconds" else None
    return ResolverServer(core, upstream, metrics, clock)


def summary(settings: ResolverSettings) -> str:
    """One line for humans: what this resolver will do with TTLs."""
    s = settings
    ecs = f"/{s.max_client_subnet_ipv4},/{s.max_client_subnet_ipv6}" if ecs_enabled(s) else "off"
    stale = "off"
    if s.serve_expired:
        wait = (
            f"after {s.serve_expired_client_timeout} ms"
            if s.serve_expired_client_timeout
            else "at once"
        )
        stale = f"{wait}, ttl {s.serve_expired_reply_ttl}"
    return (
        f"resolver like={s.like} upstream={s.upstream} ttl=[{s.cache_min_ttl},{s.cache_max_ttl}] "
        f"neg<={s.cache_max_negative_ttl} prefetch={'on' if s.prefetch else 'off'} "
        f"serve-expired={stale} ecs={ecs} entries<={s.msg_cache_size} "
        f"max-udp-size={s.max_udp_size} tcp<={s.incoming_num_tcp}"
        + (f" workers={s.num_threads}" if s.num_threads > 1 else "")
        + (" original-ttl" if s.serve_original_ttl else "")
        + f" ttl-clock={s.ttl_clock}"
    )


async def serve(settings: ResolverSettings, worker: int | None = None) -> int:
    """Run until SIGTERM/SIGINT. With ``num-threads`` > 1 this process supervises that many
    workers (resolver/workers.py); ``worker`` is set in each of them."""
    if settings.num_threads > 1 and worker is None:
        from resolver.workers import supervise

        return await supervise(settings, summary(settings))
    registry = CollectorRegistry()
    server = build(settings, registry)
    host, port = split_host_port(settings.listen)
    m_host, _ = split_host_port(settings.metrics_listen)
    try:
        await server.start(host, port, reuse_port=worker is not None)
    except OSError as exc:
        raise ConfigError(
            f"listen {settings.listen}: {exc.strerror} (pick another --listen)"
        ) from None
    try:
        http, thread = metrics_server(settings.metrics_listen, registry)
    except ConfigError:
        await server.close()
        raise
    stop = stop_on_signals("dnslab resolver")
    watchdog = None
    if worker is None:
        print(summary(settings), file=sys.stderr, flush=True)
        print(f"ready resolver {settings.listen} metrics {settings.metrics_listen}", flush=True)
    else:
        watchdog = asyncio.create_task(_exit_with_parent(stop))
        print(f"ready worker {worker} metrics {m_host}:{http.server_port}", flush=True)
    try:
        await stop.wait()
    finally:
        if watchdog is not None:
            watchdog.cancel()
        await server.close()
        http.shutdown()
        http.server_close()
        thread.join(timeout=2)
    return 0


def metrics_server(listen: str, registry: CollectorRegistry) -> tuple[WSGIServer, Thread]:
    """/metrics of ``registry`` on ``listen`` (port 0: a free one), or a ConfigError."""
    host, port = split_host_port(listen)
    try:
        return start_http_server(port, host, registry=registry)
    except OSError as exc:
        raise ConfigError(f"metrics {listen}: {exc.strerror} (use --metrics)") from None


async def _exit_with_parent(stop: asyncio.Event) -> None:
    """A worker whose parent is gone (even SIGKILLed) stops, so none is left behind."""
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    stop.set()
