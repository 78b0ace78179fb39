"""HTTP API of the checker (shell): ``/v1/events`` (SSE), ``/v1/status``, ``/metrics``, ``/healthz``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from healthcheck import sse
from healthcheck.checker import Checker
from healthcheck.events import RegionStatus

RETRY_MS = 500


async def event_stream(
    checker: Checker, last_id: str | None, mono: Callable[[], float] = time.monotonic
) -> AsyncIterator[bytes]:
    """Snapshot or replay, then live state events and heartbeats until the client leaves."""
    q = checker.subscribe()  # before reading the log: nothing can slip between the two
    try:
        replay = checker.log.after(last_id)
        if replay is None:
            # no snapshot of "unknown" regions: a restarted checker would otherwise flip its
            # subscribers' regions to their assumed state until the first results arrive
            while not checker.first_round.is_set():
                try:
                    await asyncio.wait_for(checker.first_round.wait(), checker.settings.heartbeat)
                except TimeoutError:
                    yield sse.comment("waiting for the first probe of every region")
            if checker.closed:
                return
            snap = checker.snapshot(mono())
            sent = snap.seq
            yield sse.encode("snapshot", snap.model_dump_json(), id=snap.id, retry_ms=RETRY_MS)
        else:
            sent = replay[-1].seq if replay else checker.log.seq
            yield sse.comment(f"resumed after {last_id}, replaying {len(replay)}")
            for ev in replay:
                yield sse.encode("state", ev.model_dump_json(), id=ev.id)
        while True:
            try:
                ev_or_end = await asyncio.wait_for(q.get(), checker.settings.heartbeat)
            except TimeoutError:
                yield sse.comment("hb")
                continue
            if ev_or_end is None:
                return
            if isinstance(ev_or_end, RegionStatus):
                yield sse.encode("status", ev_or_end.model_dump_json())  # no id: not replayed
            elif ev_or_end.seq > sent:
                sent = ev_or_end.seq
                yield sse.encode("state", ev_or_end.model_dump_json(), id=ev_or_end.id)
    finally:
        checker.drop(q)


def create_app(checker: Checker, mono: Callable[[], float] = time.monotonic) -> FastAPI:
    app = FastAPI(title=f"dnslab healthcheck {checker.name}", docs_url=None, redoc_url=None)

    @app.get("/v1/events")
    async def events(request: Request) -> StreamingResponse:
        last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        return StreamingResponse(
            event_stream(checker, last_id, mono),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.get("/v1/status")
    async def status() -> dict[str, object]:
        now = mono()
        regions = []
        for r in checker.regions:
            h = checker.health[r]
            regions.append(
                {
                    **checker.status(r, now).model_dump(),
                    "ok_streak": h.ok_streak,
                    "fail_streak": h.fail_streak,
                    "last_ok": None if h.last is None else h.last.ok,
                }
            )
        return {
            "checker": checker.name,
            "boot": checker.boot,
            "last_id": checker.log.last_id,
            "time": now + checker.to_wall,
            "settings": checker.settings.model_dump(),
            "subscribers": len(checker.subscribers),
            "regions": regions,
        }

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"checker": checker.name, "status": "ok"}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(checker.registry), media_type=CONTENT_TYPE_LATEST)

    return app
