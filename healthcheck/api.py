"""HTTP API of the checker (shell): ``/v1/events`` (SSE), ``/v1/status``, ``/metrics``, ``/healthz``.

With a key (``lab.auth.derive(secret, "checker", NAME)``) every stream starts with a signed
``hello`` and every message carries a ``sig`` over the subscriber's nonce (``X-Dnslab-Nonce``),
so a subscriber can tell this checker from anything else on its address (docs/security.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from healthcheck import sse
from healthcheck.checker import Checker
from healthcheck.events import RegionStatus
from lab.auth import NONCE_HEADER, StreamSigner

RETRY_MS = 500


def _encoder(
    key: bytes | None, nonce: str | None
) -> Callable[[str, str, str | None, int | None], bytes]:
    signer = StreamSigner(key, nonce or "") if key is not None else None

    def enc(event: str, data: str, id: str | None = None, retry_ms: int | None = None) -> bytes:
        sig = signer(event, id, data) if signer is not None else None
        return sse.encode(event, data, id=id, retry_ms=retry_ms, sig=sig)

    return enc


async def event_stream(
    checker: Checker,
    last_id: str | None,
    mono: Callable[[], float] = time.monotonic,
    key: bytes | None = None,
    nonce: str | None = None,
) -> AsyncIterator[bytes]:
    """Snapshot or replay, then live state events and heartbeats until the client leaves."""
    enc = _encoder(key, nonce)
    q = checker.subscribe()  # before reading the log: nothing can slip between the two
    try:
        if key is not None:  # first, so the subscriber knows who speaks before anything else
            hello = {"checker": checker.name, "boot": checker.boot, "nonce": nonce or ""}
            yield enc("hello", json.dumps(hello), None, None)
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
            yield enc("snapshot", snap.model_dump_json(), snap.id, RETRY_MS)
        else:
            sent = replay[-1].seq if replay else checker.log.seq
            yield sse.comment(f"resumed after {last_id}, replaying {len(replay)}")
            for ev in replay:
                yield enc("state", ev.model_dump_json(), ev.id, None)
        while True:
            try:
                ev_or_end = await asyncio.wait_for(q.get(), checker.settings.heartbeat)
            except TimeoutError:
                yield sse.comment("hb")
                continue
            if ev_or_end is None:
                return
            if isinstance(ev_or_end, RegionStatus):
                yield enc("status", ev_or_end.model_dump_json(), None, None)  # not replayed
            elif ev_or_end.seq > sent:
                sent = ev_or_end.seq
                yield enc("state", ev_or_end.model_dump_json(), ev_or_end.id, None)
    finally:
        checker.drop(q)


def create_app(
    checker: Checker, mono: Callable[[], float] = time.monotonic, key: bytes | None = None
) -> FastAPI:
    app = FastAPI(title=f"dnslab healthcheck {checker.name}", docs_url=None, redoc_url=None)

    @app.get("/v1/events")
    async def events(request: Request) -> StreamingResponse:
        last_id = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        return StreamingResponse(
            event_stream(checker, last_id, mono, key, request.headers.get(NONCE_HEADER)),
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
    async def healthz() -> dict[str, object]:
        return {"checker": checker.name, "status": "ok", "signed": key is not None}

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(checker.registry), media_type=CONTENT_TYPE_LATEST)

    return app
