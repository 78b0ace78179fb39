"""``HealthFeed`` against a tiny SSE server that keeps dropping connections, and against a real
checker that is SIGKILLed and restarted mid-run: no transition is lost, the view resyncs."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import pytest

from healthcheck.events import RegionStatus, Snapshot, StateEvent
from healthcheck.feed import HealthFeed, running
from lab.auth import derive
from lab.procs import ProcessGroup, free_port, http_ready, tcp_ready, wait_for_async
from tests.conftest import DNSLAB, fault_auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def status(region: str, state: str, seq: int) -> RegionStatus:
    return RegionStatus(
        checker="fake", region=region, state=state, since=float(seq), reason=f"r{seq}",  # type: ignore[arg-type]
        rtt_s=None, next_change_at=None, next_change_in_s=None, last_probe_at=None,
        last_detail=None, probes=seq, failures=0, transitions=seq,
    )  # fmt: skip


EVENTS = [
    StateEvent(
        id=f"t-{i}",
        seq=i,
        boot="t",
        at=float(i),
        previous="up" if i % 2 else "down",
        status=status("eu", "down" if i % 2 else "up", i),
    )
    for i in range(1, 11)
]
SNAPSHOT = Snapshot(
    id="t-0", seq=0, boot="t", checker="fake", at=0.0, regions=[status("eu", "up", 0)]
)


class DroppingServer:
    """Sends at most 3 messages per connection, then drops it; silent once all are sent."""

    def __init__(self) -> None:
        self.last_ids: list[str | None] = []
        self.connections = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            await self.serve(reader, writer)
        finally:
            writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        last = None
        for line in head.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "last-event-id":
                last = value.strip()
        self.last_ids.append(last)
        self.connections += 1
        nl = "\r\n" if self.connections % 2 else "\n"  # both line endings
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        )
        writer.write(f"retry: 20{nl}: hello{nl}{nl}".encode())
        start = int(last.split("-")[1]) if last and last.startswith("t-") else None
        if start is None:
            writer.write(self.message("snapshot", SNAPSHOT.model_dump(), SNAPSHOT.id, nl))
            start = 0
        pending = EVENTS[start : start + 3]
        for ev in pending:
            writer.write(self.message("state", ev.model_dump(), ev.id, nl))
        await writer.drain()
        if pending:
            return  # drop the connection mid-stream
        await asyncio.sleep(3600)  # all sent: go silent (no heartbeats) until cancelled

    @staticmethod
    def message(event: str, payload: dict[str, Any], id: str, nl: str) -> bytes:
        data = nl.join(f"data: {line}" for line in json.dumps(payload, indent=1).split("\n"))
        return f"id: {id}{nl}event: {event}{nl}{data}{nl}{nl}".encode()


def test_resume_after_drops_loses_nothing_and_detects_silence() -> None:
    server = DroppingServer()
    got: list[StateEvent] = []
    snaps: list[Snapshot] = []
    ups: list[bool] = []
    flipped: list[float] = []  # when each ``ups`` entry was reported

    def on_status(up: bool) -> None:
        flipped.append(time.monotonic())  # stamped by the feed itself, as it changes
        ups.append(up)

    async def go() -> None:
        srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
        port = srv.sockets[0].getsockname()[1]
        feed = HealthFeed(
            f"http://127.0.0.1:{port}/v1/events",
            on_snapshot=snaps.append,
            on_event=got.append,
            on_status=on_status,
            stale_after=0.4,
            backoff_max=0.2,
        )
        async with srv, running(feed):
            await wait_for_async(lambda: len(got) == len(EVENTS), 10, "all events")
            await wait_for_async(
                lambda: server.last_ids[-1] == "t-10" and feed.up, 2, "silent stream"
            )
            await wait_for_async(lambda: not feed.up, 2, "silent feed marked down")  # stale_after
            # from the silent stream's "up" (its hello arrived) to "down": the feed's own
            # times, not when this test noticed the first (a late look shortened the span)
            assert ups[-2:] == [True, False]
            assert flipped[-1] - flipped[-2] >= 0.3
        for w in server.writers:
            w.close()
        await asyncio.sleep(0.05)
        assert feed.retry_ms == 20
        assert feed.view["eu"] == EVENTS[-1].status

    asyncio.run(go())
    assert [e.seq for e in got] == list(range(1, 11))  # each exactly once, in order
    assert len(snaps) == 1  # resumed by id every time after the first connect
    assert server.last_ids[:5] == [None, "t-3", "t-6", "t-9", "t-10"]
    assert ups[:4] == [True, False, True, False]


def post(url: str, payload: dict[str, Any], region: str) -> None:
    """POST a fault with ``region``'s token (the session's default lab secret)."""
    req = urllib.request.Request(
        url, json.dumps(payload).encode(), fault_auth(region), method="POST"
    )
    urllib.request.urlopen(req, timeout=2).close()


def checker_view(hport: int) -> dict[str, tuple[str, float | None, str]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{hport}/v1/status", timeout=2) as r:
        body = json.loads(r.read())
    return {x["region"]: (x["state"], x["since"], x["reason"]) for x in body["regions"]}


def test_checker_killed_and_restarted_feed_resyncs(procs: ProcessGroup, lab_secret: bytes) -> None:
    ports = {n: (free_port(), free_port()) for n in ("a", "b")}
    for n, (p, c) in ports.items():
        ch = procs.start(
            n,
            [
                DNSLAB,
                "region",
                "--name",
                n,
                "--listen",
                f"127.0.0.1:{p}",
                "--control",
                f"127.0.0.1:{c}",
            ],
        )
        procs.wait_ready(ch, http_ready(f"http://127.0.0.1:{p}/healthz"), timeout=30)
    hport = free_port()
    argv = [DNSLAB, "healthcheck", "--listen", f"127.0.0.1:{hport}", "--name", "vp1"]
    argv += ["--interval=0.2", "--fall=2", "--rise=2", "--heartbeat=0.2"]
    argv += [f"--target={n}=http://127.0.0.1:{p}/healthz" for n, (p, _) in ports.items()]

    def start_checker() -> Any:
        child = procs.start("checker", argv)
        procs.wait_ready(child, tcp_ready("127.0.0.1", hport))
        return child

    checker = start_checker()
    ups: list[bool] = []
    snaps: list[Snapshot] = []
    feed = HealthFeed(
        f"http://127.0.0.1:{hport}/v1/events",
        on_snapshot=snaps.append,
        on_status=ups.append,
        backoff_max=0.3,
        key=derive(lab_secret, "checker", "vp1"),  # verifies the signed stream, as the server
        checker="vp1",
    )

    def view() -> dict[str, tuple[str, float | None, str]]:
        return {r: (s.state, s.since, s.reason) for r, s in feed.view.items()}

    async def converged(what: str) -> None:
        await wait_for_async(lambda: view() == checker_view(hport), 5, what)

    async def go() -> None:
        nonlocal checker
        async with running(feed):
            await wait_for_async(
                lambda: {s for s, _, _ in view().values()} == {"up"}, 10, "both up"
            )
            post(f"http://127.0.0.1:{ports['b'][1]}/v1/faults", {"fault": "down"}, "b")
            await wait_for_async(lambda: view()["b"][0] == "down", 5, "b down")
            await converged("views equal before the kill")
            checker.kill()  # SIGKILL the checker mid-run
            await wait_for_async(lambda: not feed.up, 3, "feed down after checker death")
            assert view()["b"][0] == "down"  # fail-static: last state kept
            post(f"http://127.0.0.1:{ports['b'][1]}/v1/faults", {"fault": "clear"}, "b")
            post(f"http://127.0.0.1:{ports['a'][1]}/v1/faults", {"fault": "hang"}, "a")
            checker = start_checker()
            await wait_for_async(lambda: feed.up, 5, "feed back up")
            await wait_for_async(
                lambda: view()["a"][0] == "down" and view()["b"][0] == "up", 5, "resynced"
            )
            await converged("views equal after the restart")

    asyncio.run(go())
    assert ups[:3] == [True, False, True]
    assert len(snaps) == 2 and snaps[0].boot != snaps[1].boot
    # a restarted checker never hands out "unknown": the snapshot waits for every verdict
    assert all(r.state != "unknown" for s in snaps for r in s.regions)
    assert {r.region: r.reason for r in snaps[1].regions}["a"].startswith(
        "first probe failed: timeout"
    )


def test_a_checker_that_listens_again_is_reached_within_quick_max() -> None:
    """While nothing listens the feed retries every <= quick_max (25 ms), also after 1.5 s of
    refusals (the exponential backoff would wait up to 1 s by then): three times, a listener
    started on the port is connected to within quick_max + 175 ms of slack for a loaded
    machine. Before the quick retries, each try had about a 1-in-5 chance of that."""
    port = free_port()
    delays: list[float] = []

    async def go() -> None:
        accepted = asyncio.Event()

        async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            accepted.set()
            w.close()

        feed = HealthFeed(f"http://127.0.0.1:{port}/v1/events")
        async with running(feed):
            for _ in range(3):
                accepted.clear()
                await asyncio.sleep(1.5)  # refused all along
                srv = await asyncio.start_server(handle, "127.0.0.1", port)
                t0 = time.monotonic()
                await asyncio.wait_for(accepted.wait(), 5)
                delays.append(time.monotonic() - t0)
                srv.close()
                await srv.wait_closed()

    asyncio.run(go())
    assert all(d <= 0.025 + 0.175 for d in delays), delays
