"""The regional backend as a FastAPI app (shell around ``regions.faults``).

``GET /`` answers ``{region, instance, pid, ...}`` with ``X-Region``; ``GET /healthz`` is the
health endpoint; ``GET/POST /v1/faults`` read and inject faults; ``GET /metrics`` is Prometheus.
Requests that arrive on the control port (``RegionRuntime.control_port``) never see faults.

Control plane (docs/security.md):

* ``/v1/faults`` exists **on the control port only** (404 elsewhere); a ``POST`` needs
  ``Authorization: Bearer TOKEN`` when the region has a token (``lab.auth.control_token``).
* ``/healthz`` answers ``X-Dnslab-Proof`` = ``lab.auth.sign(key, "healthz", challenge)`` for
  the checker's ``X-Dnslab-Challenge`` when the region has a key, so a squatter on its freed
  port cannot pass for it.
* A fault change answers with the truth about the main listener: if ``down`` ended but the
  address cannot be bound again (someone took it), the answer is **503** with the bind error,
  ``listening.open`` false, and the region keeps retrying (``GET /v1/faults`` shows it).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import os
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from lab.auth import CHALLENGE_HEADER, PROOF_HEADER, sign
from regions import faults as F

CONTROL_PATHS = ("/v1/faults", "/metrics")


async def _settled() -> None:
    return None


@dataclass
class RegionMetrics:
    requests: Counter
    fault_active: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry) -> RegionMetrics:
        return cls(
            Counter(
                "dnslab_region_requests_total",
                "HTTP requests answered by this region, by status code and kind",
                ["region", "status", "kind"],
                registry=registry,
            ),
            Gauge(
                "dnslab_region_fault_active",
                "1 while the named fault is active in this region",
                ["region", "fault"],
                registry=registry,
            ),
        )


@dataclass
class RegionRuntime:
    """Mutable shell state: the current fault snapshot (swapped whole) and hooks."""

    name: str
    registry: CollectorRegistry
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    instance: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    control_port: int | None = None
    state: F.FaultState = field(default_factory=F.FaultState)
    on_change: Callable[[], None] = lambda: None
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    key: bytes | None = field(default=None, repr=False)  # health proof key (lab.auth.derive)
    token: str | None = field(default=None, repr=False)  # fault API bearer token
    listener_open: bool = True  # the main listener, as the runner last left it
    listener_error: str | None = None  # why the last reopen failed (it is being retried)
    reopen_attempts: int = 0
    settle: Callable[[], Awaitable[None]] = _settled  # wait for the first reopen attempt

    def __post_init__(self) -> None:
        self.metrics = RegionMetrics.create(self.registry)
        self.refresh_gauges()

    def refresh_gauges(self) -> None:
        active = self.state.active(self.clock())
        for name in F.KNOWN_FAULTS:
            if name != "clear":
                self.metrics.fault_active.labels(self.name, name).set(1 if name in active else 0)

    def post(self, spec: F.FaultSpec) -> None:
        self.state = F.apply(self.state, spec, self.clock())
        self.refresh_gauges()
        self.on_change()


def listening_json(rt: RegionRuntime, now: float) -> dict[str, object]:
    want = F.listening(rt.state, now)
    return {
        "open": rt.listener_open,
        "wanted": want,
        "error": rt.listener_error,
        "reopen_attempts": rt.reopen_attempts,
    }


def _error(err: F.FaultError) -> JSONResponse:
    body = {"error": err.message, "field": err.field, "known_faults": list(F.KNOWN_FAULTS)}
    return JSONResponse(body, status_code=422)


def create_app(rt: RegionRuntime) -> FastAPI:
    app = FastAPI(title=f"dnslab region {rt.name}", docs_url=None, redoc_url=None)

    @app.middleware("http")
    async def faults_mw(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        server = request.scope.get("server") or ("", 0)
        on_control = rt.control_port is not None and server[1] == rt.control_port
        if path == "/v1/faults" and not on_control:
            where = f"port {rt.control_port}" if rt.control_port else "no port (run with --control)"
            body = {"error": f"the fault API is on the control port only: {where}"}
            return JSONResponse(body, status_code=404, headers={"X-Region": rt.name})
        exempt = path in CONTROL_PATHS or on_control
        kind: F.RequestKind = "health" if path == "/healthz" else "traffic"
        if not exempt:
            d = F.decide(rt.state, rt.clock(), kind, rt.rng.random())
            if d.delay:
                await asyncio.sleep(d.delay)
            if d.hang:  # never answers, until the client leaves or the region stops
                await rt.stopping.wait()
                return JSONResponse({"region": rt.name, "error": "stopping"}, status_code=503)
            if d.status is not None:
                rt.metrics.requests.labels(rt.name, str(d.status), kind).inc()
                body = {"region": rt.name, "error": d.reason}
                return JSONResponse(body, status_code=d.status, headers={"X-Region": rt.name})
        response = await call_next(request)
        response.headers["X-Region"] = rt.name
        if path not in CONTROL_PATHS:
            rt.metrics.requests.labels(rt.name, str(response.status_code), kind).inc()
        return response

    @app.get("/")
    async def root() -> dict[str, object]:
        return {
            "region": rt.name,
            "instance": rt.instance,
            "pid": os.getpid(),
            "time": time.time(),
            "faults": sorted(rt.state.active(rt.clock())),
            "listening": listening_json(rt, rt.clock()),
        }

    @app.get("/healthz")
    async def healthz(request: Request) -> JSONResponse:
        body = {"region": rt.name, "status": "ok", "instance": rt.instance}
        challenge = request.headers.get(CHALLENGE_HEADER)
        headers = {}
        if rt.key is not None and challenge:
            headers[PROOF_HEADER] = sign(rt.key, "healthz", challenge)
        return JSONResponse(body, headers=headers)

    @app.get("/v1/faults")
    async def get_faults() -> dict[str, object]:
        now = rt.clock()
        active = {n: f.to_json(now) for n, f in rt.state.active(now).items()}
        return {
            "region": rt.name,
            "faults": active,
            "known_faults": list(F.KNOWN_FAULTS),
            "listening": listening_json(rt, now),
        }

    @app.post("/v1/faults")
    async def post_fault(request: Request) -> Response:
        if rt.token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), rt.token):
                return JSONResponse(
                    {"error": "missing or wrong bearer token (Authorization: Bearer TOKEN)"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="dnslab region"'},
                )
        try:
            payload = json.loads(await request.body() or b"null")
        except ValueError as exc:
            return _error(F.FaultError("body", f"not JSON: {exc}"))
        spec = F.parse_fault(payload)
        if isinstance(spec, F.FaultError):
            return _error(spec)
        refused = F.require_duration_or_control(spec, rt.control_port is not None)
        if refused is not None:
            return _error(refused)
        rt.post(spec)
        await rt.settle()
        body = await get_faults()
        lst = listening_json(rt, rt.clock())
        if lst["wanted"] and not lst["open"]:
            body["error"] = (
                f"the fault changed but the main listener is not open again: {lst['error']}; "
                "retrying"
            )
            return JSONResponse(body, status_code=503)
        return JSONResponse(body)

    @app.get("/metrics")
    async def metrics() -> Response:
        rt.refresh_gauges()
        return Response(generate_latest(rt.registry), media_type=CONTENT_TYPE_LATEST)

    return app
