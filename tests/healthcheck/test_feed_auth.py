"""HealthFeed authenticating a stream, against a real local HTTP socket serving crafted
streams: a correctly signed stream is applied; unsigned, wrongly keyed, misnamed and
oversized ones are refused before anything of them is applied."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

import pytest

from healthcheck import sse
from healthcheck.feed import HealthFeed
from lab.auth import NONCE_HEADER, StreamSigner, derive
from lab.procs import wait_for_async

SECRET = b"s" * 32
KEY = derive(SECRET, "checker", "local")
SNAP = {"type": "snapshot", "id": "b-0", "seq": 0, "boot": "b", "checker": "local", "at": 1.0,
        "regions": []}  # fmt: skip

Body = Callable[[str], bytes]  # nonce -> the stream


def signed(key: bytes, name: str) -> Body:
    def body(nonce: str) -> bytes:
        sign = StreamSigner(key, nonce)
        hello = json.dumps({"checker": name, "boot": "b", "nonce": nonce})
        snap = json.dumps(SNAP)
        return sse.encode("hello", hello, sig=sign("hello", None, hello)) + sse.encode(
            "snapshot", snap, id="b-0", sig=sign("snapshot", "b-0", snap)
        )

    return body


async def serve(body: Body, done: asyncio.Event) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        nonce = next(
            (
                line.split(":", 1)[1].strip()
                for line in head.split("\r\n")
                if line.lower().startswith(NONCE_HEADER.lower())
            ),
            "",
        )
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n" + body(nonce))
        await writer.drain()
        await done.wait()  # hold the stream open until the test has its verdict
        writer.close()
        await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/events"


def run_feed(body: Body) -> tuple[list[str], list[bool], list[str]]:
    """(snapshots applied, on_status calls, refusal reasons) after the first connection."""

    async def go() -> tuple[list[str], list[bool], list[str]]:
        done = asyncio.Event()
        server, url = await serve(body, done)
        snaps: list[str] = []
        ups: list[bool] = []
        refused: list[str] = []
        feed = HealthFeed(
            url,
            on_snapshot=lambda s: snaps.append(s.id),
            on_status=ups.append,
            key=KEY,
            checker="local",
            on_refused=refused.append,
        )
        task = asyncio.create_task(feed.run())
        try:
            await wait_for_async(lambda: bool(snaps or refused), 5, "a verdict on the stream")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            done.set()
            server.close()
            await server.wait_closed()
        return snaps, ups, refused

    return asyncio.run(go())


def test_a_correctly_signed_stream_is_applied() -> None:
    snaps, ups, refused = run_feed(signed(KEY, "local"))
    assert snaps == ["b-0"] and ups[:1] == [True] and refused == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (lambda n: sse.encode("snapshot", json.dumps(SNAP), id="b-0") + b": hb\n\n", "unsigned"),
        (signed(derive(SECRET, "checker", "remote"), "local"), "bad signature"),
        (signed(derive(b"x" * 32, "checker", "local"), "local"), "bad signature"),
        (signed(KEY, "remote"), "wrong checker"),
        (lambda n: b"data: " + b"x" * (2 << 20), "oversized"),
    ],
    ids=["unsigned", "other-checkers-key", "other-secret", "misnamed", "oversized"],
)
def test_anything_else_is_refused_before_it_is_applied(body: Body, reason: str) -> None:
    snaps, ups, refused = run_feed(body)
    assert refused[:1] == [reason] and snaps == [] and True not in ups
