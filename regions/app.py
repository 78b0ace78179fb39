"""The regional backend as a FastAPI app (shell around ``regions.faults``).

``GET /`` answers ``{region, instance, pid, ...}`` with ``X-Region``; ``GET /healthz`` is the
health endpoint; ``GET/POST /v1/faults`` read and inject faults; ``GET /metrics`` is Prometheus.
Requests that arrive on the control port (``RegionRuntime.control_port``) never see faults.
"""

from __future__ import annotations

import asyncio
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

from regions import faults as F

CONTROL_PATHS = ("/v1/faults", "/metrics")


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
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"region": rt.name, "status": "ok", "instance": rt.instance}

    @app.get("/v1/faults")
    async def get_faults() -> dict[str, object]:
        now = rt.clock()
        active = {n: f.to_json(now) for n, f in rt.state.active(now).items()}
        return {"region": rt.name, "faults": active, "known_faults": list(F.KNOWN_FAULTS)}

    @app.post("/v1/faults")
    async def post_fault(request: Request) -> Response:
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
        return JSONResponse(await get_faults())

    @app.get("/metrics")
    async def metrics() -> Response:
        rt.refresh_gauges()
        return Response(generate_latest(rt.registry), media_type=CONTENT_TYPE_LATEST)

    return app
