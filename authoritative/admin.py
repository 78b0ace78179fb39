"""The admin API of ``dnslab authoritative --config/--admin`` (FastAPI, default 127.0.0.1:8053).

    GET  /v1/health               every region: state, forced, since, next change, why, votes
    PUT  /v1/health/{region}      {"state": "up" | "down" | null}: force, or clear the override
    POST /v1/reload               re-read lab.toml and the zone files; atomic (old data keeps
                                  serving if anything is wrong, and the error is returned)
    GET  /v1/explain?name=&type=&client=   why this client gets that answer (docs/geodns.md)
    GET  /metrics                 the server's Prometheus registry

Writes (PUT, POST) need ``Authorization: Bearer TOKEN`` (``authoritative.token`` or env
``DNSLAB_ADMIN_TOKEN``); with no token configured every write is refused (401).
``serve_geo`` runs the DNS server, this API and the checker feeds on one event loop; with a
lab secret the feeds accept only streams signed by their checker, and with
``authoritative.health_state`` (or ``--health-state``) the health view is saved on every change
and restored before the first query (docs/security.md).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hmac
import ipaddress
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import Any, Literal

import dns.rdatatype
import uvicorn
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from pydantic import BaseModel, ConfigDict, ValidationError

from authoritative.explain import explain
from authoritative.geo import Client, geomap_from_config
from authoritative.geo_runtime import GeoRuntime
from authoritative.server import workers_note
from lab.errors import ConfigError, LabError
from lab.stopping import stop_on_signals

TOKEN_ENV = "DNSLAB_ADMIN_TOKEN"


class HealthPut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: Literal["up", "down"] | None


def parse_health_put(raw: bytes) -> HealthPut:
    """The PUT /v1/health body, or a 422 that says what is expected."""
    expected = 'expected a JSON body {"state": "up" | "down" | null}'
    try:
        return HealthPut.model_validate_json(raw or b"null")
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()
        )
        raise HTTPException(422, f"{expected} ({problems})") from None


def parse_client(text: str) -> Client:
    """``127.2.0.10`` (a source address) or ``127.2.0.0/24`` (an ECS subnet)."""
    try:
        if "/" in text:
            net = ipaddress.ip_network(text, strict=False)
            return Client.from_ecs(str(net.network_address), net.prefixlen)
        return Client.from_source(text)
    except ValueError:
        raise ConfigError(
            f"client {text!r}: expected an address (127.2.0.10) or a subnet (127.2.0.0/24)"
        ) from None


def parse_qtype(text: str) -> int:
    try:
        return int(dns.rdatatype.from_text(text.upper()))
    except Exception:
        raise ConfigError(f"type {text!r}: expected a DNS type such as A, AAAA, TXT") from None


def health_json(runtime: GeoRuntime) -> dict[str, Any]:
    view = runtime.view()
    now = view.computed_at
    regions = {}
    for name, h in view.regions.items():
        regions[name] = {
            "state": h.state,
            "forced": h.forced,
            "since_s_ago": round(now - h.since, 3),
            "next_change_in_s": None
            if h.next_change == float("inf")
            else round(h.next_change - now, 3),
            "why": h.why,
            "votes": {v.checker: {"up": v.up, "source": v.source} for v in h.votes},
            "rtt_s": dict(h.rtts),
        }
    feeds = {c: runtime.feed_state(c) for c in runtime.inputs.checkers}
    kept = {
        c: {"age_s": None if (a := runtime.age(c)) is None else round(a, 3),
            "expired": runtime.is_expired(c)}
        for c in runtime.inputs.checkers
    }  # fmt: skip
    return {
        "epoch": runtime.epoch,
        "regions": regions,
        "feeds": feeds,
        "kept_state": kept,
        "max_stale_s": runtime.rules.max_stale,
        "on_expired": runtime.rules.on_expired,
        "restored_from": runtime.restored,
    }


def live_health(runtime: GeoRuntime) -> str:
    """The explanation's health line: where the states come from right now."""
    feeds = ", ".join(f"{c} {runtime.feed_text(c)}" for c in runtime.inputs.checkers)
    quorum = runtime.rules.quorum_text(len(runtime.inputs.checkers))
    forced = ", ".join(f"{r} {'up' if up else 'down'}" for r, up in runtime.forced().items())
    return f"live; feeds: {feeds}; quorum {quorum}" + (f"; forced: {forced}" if forced else "")


def create_app(
    runtime: GeoRuntime,
    token: str | None,
    reload: Callable[[], Awaitable[None]],
    registry: CollectorRegistry,
) -> FastAPI:
    """The admin app. Handlers are ``async`` on purpose: they run on the event loop that also
    answers DNS, so a swap never races a query (no locks needed)."""
    app = FastAPI(title="dnslab authoritative admin", docs_url=None, redoc_url=None)

    challenge = {"WWW-Authenticate": 'Bearer realm="dnslab admin"'}  # RFC 6750 §3

    def require_token(authorization: str | None) -> None:
        if not token:
            raise HTTPException(
                401, f"writes are disabled: set authoritative.token or {TOKEN_ENV}", challenge
            )
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
            raise HTTPException(
                401, "missing or wrong bearer token (Authorization: Bearer TOKEN)", challenge
            )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{' '.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        return JSONResponse({"detail": f"bad request: {problems}"}, 422)

    @app.get("/v1/health")
    async def get_health() -> dict[str, Any]:
        return health_json(runtime)

    @app.put("/v1/health/{region}")
    async def put_health(
        region: str, request: Request, authorization: str | None = Header(None)
    ) -> dict[str, Any]:
        require_token(authorization)
        if region not in runtime.cfg.regions:
            known = ", ".join(runtime.cfg.regions)
            raise HTTPException(404, f"unknown region {region!r} (known: {known})")
        body = parse_health_put(await request.body())  # any content type: curl -d works
        runtime.force(region, None if body.state is None else body.state == "up")
        return {"region": region, "override": body.state, **health_json(runtime)["regions"][region]}

    @app.post("/v1/reload")
    async def post_reload(authorization: str | None = Header(None)) -> JSONResponse:
        require_token(authorization)
        try:
            await reload()
        except LabError as exc:
            return JSONResponse({"reloaded": False, "error": str(exc), "epoch": runtime.epoch}, 400)
        return JSONResponse({"reloaded": True, "epoch": runtime.epoch})

    @app.get("/v1/explain")
    async def get_explain(name: str, client: str, type: str = "A") -> JSONResponse:
        try:
            e = explain(
                runtime.services(),
                name,
                parse_qtype(type),
                parse_client(client),
                runtime.clock.now(),
                live_health(runtime),
            )
        except LabError as exc:
            return JSONResponse(
                {"detail": str(exc)}, 404 if "not a GeoDNS service" in str(exc) else 422
            )
        return JSONResponse(e)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _bind_admin(text: str, host: str, port: int) -> socket.socket:
    """Bind the admin socket up front, so a busy port is a clear error, not a traceback."""
    try:
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise ConfigError(
            f"admin listen {text}: cannot bind: {os.strerror(exc.errno) if exc.errno else exc}"
            " (set authoritative.admin_listen or --admin)"
        ) from None
    return sock


class _QuietServer(uvicorn.Server):
    """uvicorn without its own signal handling: the authoritative shell owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HealthSaver:
    """Writes the health view (health_store) after every change, and about once a second while
    a feed is up (so ``confirmed_at`` stays fresh); republishes when a kept word expires."""

    def __init__(self, runtime: GeoRuntime, path: Path | None) -> None:
        self.runtime, self.path = runtime, path
        self.dirty = asyncio.Event()
        self.errors = 0

    def changed(self) -> None:
        self.dirty.set()

    async def run(self) -> None:
        from authoritative.health_store import encode, write

        expired = {c: self.runtime.is_expired(c) for c in self.runtime.inputs.checkers}
        while True:
            wait = SAVE_EVERY_S
            due = self.runtime.expiry_due()
            if due is not None:
                wait = min(wait, max(0.0, due - self.runtime.clock.now()) + 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.dirty.wait(), wait)
            now_expired = {c: self.runtime.is_expired(c) for c in self.runtime.inputs.checkers}
            if now_expired != expired:  # the view depends on it (on_expired, explain)
                expired = now_expired
                self.runtime.publish()
            feeding = any(self.runtime.feeds_seen.values())
            changed = self.dirty.is_set()
            self.dirty.clear()
            if self.path is None or not (changed or feeding):
                continue
            doc = encode(self.runtime.inputs, self.runtime.clock.now())
            try:
                await asyncio.to_thread(write, self.path, doc)
            except OSError as exc:  # keep serving; say so once per streak
                self.errors += 1
                if self.errors == 1:
                    print(f"health_state {self.path}: cannot write: {exc}", file=sys.stderr)
            else:
                self.errors = 0


SAVE_EVERY_S = 1.0


async def serve_geo(
    server: Any,
    host: str,
    port: int,
    args: argparse.Namespace,
    registry: CollectorRegistry,
    base: Any,
    pool: Any = None,
) -> None:
    """Run the DNS server with GeoDNS services, the admin API and the health feeds until a signal.
    With ``pool`` (--workers, authoritative/workers.py) every health change is fanned out."""
    from authoritative.geo_zones import GeoSetup, write_admin_state

    setup = GeoSetup(args, base)
    cfg, state = setup.load()
    runtime = GeoRuntime(cfg, state, server.swap, registry)
    if pool is not None:
        from authoritative.workers import WorkerSums

        runtime.on_publish = lambda inputs: pool.broadcast(("inputs", inputs))
        server.engine.metrics.peers = runtime.metrics.answers.peers = WorkerSums(pool)
    if cfg.authoritative.admin_state:
        runtime.restore(setup.forced)
    secret = cfg.secret(getattr(args, "secret_file", None), "dnslab authoritative")
    hs = getattr(args, "health_state", None) or cfg.authoritative.health_state
    hs_path = (Path(hs) if getattr(args, "health_state", None) else cfg.path(hs)) if hs else None
    if hs_path is not None:
        from authoritative.health_store import read

        saved = read(hs_path)
        if saved is not None:  # before the DNS socket opens: no answer from a blank view
            runtime.restore_health(saved, str(hs_path))
    saver = HealthSaver(runtime, hs_path)
    runtime.on_health_change = saver.changed

    def save(forced: dict[str, bool]) -> None:
        path = runtime.cfg.authoritative.admin_state
        if path:
            try:
                write_admin_state(runtime.cfg.path(path), forced)
            except OSError as exc:  # keep serving; the override holds until restart
                print(f"admin_state {path}: cannot write: {exc}", file=sys.stderr)

    runtime.on_force = save
    token = cfg.authoritative.token or os.environ.get(TOKEN_ENV) or None
    admin = args.admin or cfg.authoritative.admin_listen
    a_host, _, a_port = admin.rpartition(":")
    a_host = a_host.strip("[]")
    feeds = setup.feeds(runtime, secret)

    async def reload() -> None:
        # read and check everything off the loop; raises before anything changes
        new_cfg, new_state = await asyncio.to_thread(setup.load)
        geomap = await asyncio.to_thread(geomap_from_config, new_cfg)
        if pool is not None:  # it loads: every worker reads the files itself
            pool.broadcast(("reload",))
        runtime.load(new_cfg, new_state, geomap)  # on the loop: one swap
        if new_cfg.authoritative.admin_state:
            runtime.restore(setup.forced)
        feeds.restart(runtime)

    app = create_app(runtime, token, reload, registry)
    web = _QuietServer(
        uvicorn.Config(app, host=a_host, port=int(a_port), log_level="warning", lifespan="off")
    )
    loop = asyncio.get_running_loop()
    stop = stop_on_signals("dnslab authoritative")
    sock = _bind_admin(admin, a_host, int(a_port))
    bound_host, bound_port = await server.start(host, port, reuse_port=pool is not None)
    if pool is not None:
        await pool.serving(loop, stop)
        runtime.on_publish(runtime.inputs)  # what this worker had before the others listened
    web_task = asyncio.create_task(web.serve(sockets=[sock]))
    while not web.started:
        if web_task.done():
            await server.stop()
            raise ConfigError(f"admin listen {admin}: the admin API did not start")
        await asyncio.sleep(0.01)
    feeds.start(runtime)
    saver_task = asyncio.create_task(saver.run())
    print(
        f"admin API on http://{admin} (writes {'need a bearer token' if token else 'disabled: no token'})",
        file=sys.stderr,
    )
    if secret is None and cfg.checkers:
        print(
            "health feeds UNAUTHENTICATED (control.auth = 'off'): any process on a checker's address "
            "is believed; see docs/security.md",
            file=sys.stderr,
        )
    if runtime.restored:
        print(f"health view restored from {runtime.restored}", file=sys.stderr)
    print(f"ready authoritative {bound_host}:{bound_port}{workers_note(pool)}", flush=True)
    await stop.wait()
    await feeds.stop()
    saver_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await saver_task
    web.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(web_task, 3.0)
    await server.stop()
    if pool is not None:
        pool.finish()
