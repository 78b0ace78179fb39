"""Checker + event stream in memory: the async generator is driven directly (no sockets)."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from healthcheck.api import event_stream
from healthcheck.checker import Checker
from healthcheck.settings import CheckSettings
from healthcheck.sse import SSEMessage, SSEParser
from healthcheck.state import ProbeResult
from lab.clock import VirtualClock


def make() -> tuple[Checker, VirtualClock]:
    clock = VirtualClock(100.0)
    s = CheckSettings(interval=1.0, fall=2, rise=1, heartbeat=0.05)
    c = Checker("na", s, ["eu", "us"], CollectorRegistry(), mono_start=100.0, to_wall=1e9, boot="b")
    return c, clock


def result(ok: bool, clock: VirtualClock) -> ProbeResult:
    t = clock.advance(1.0)
    return ProbeResult(ok, t, t + 0.005, "status 200" if ok else "connect refused", 0.004)


async def take(gen: object, parser: SSEParser, n: int) -> list[SSEMessage]:
    out: list[SSEMessage] = []
    while len(out) < n:
        out += parser.feed((await gen.__anext__()).decode())  # type: ignore[attr-defined]
    return out


def test_snapshot_waits_for_verdicts_then_events_then_resume() -> None:
    async def go() -> None:
        c, clock = make()
        c.record("eu", result(True, clock))  # b-1
        gen = event_stream(c, None, clock.now)
        p = SSEParser()
        first = await gen.__anext__()  # us has no verdict yet: no snapshot, a heartbeat
        assert first.startswith(b": waiting for the first probe")
        c.record("us", result(False, clock))  # b-2: every region has a verdict
        (snap,) = await take(gen, p, 1)
        assert snap.event == "snapshot" and snap.id == "b-2" and "unknown" not in snap.data
        assert c.record("eu", result(True, clock)) is None  # no transition: a status message
        (st,) = await take(gen, p, 1)
        assert st.event == "status" and st.id == "b-2" and '"probes":2' in st.data
        c.record("eu", result(False, clock))
        assert c.record("eu", result(False, clock)) is not None  # eu down (fall 2): b-3
        msgs = await take(gen, p, 2)
        assert [m.event for m in msgs] == ["status", "state"] and msgs[1].id == "b-3"
        assert '"previous":"up"' in msgs[1].data
        await gen.aclose()
        assert c.subscribers == set()
        # a client that saw b-1 resumes and gets exactly b-2 and b-3
        gen2 = event_stream(c, "b-1", clock.now)
        msgs = await take(gen2, SSEParser(), 2)
        assert [m.id for m in msgs] == ["b-2", "b-3"]
        assert "2 consecutive failures" in msgs[1].data
        await gen2.aclose()

    asyncio.run(go())


def test_heartbeat_and_metrics_and_slow_subscriber_dropped() -> None:
    async def go() -> None:
        c, clock = make()
        gen = event_stream(c, "b-0", clock.now)
        p = SSEParser()
        await gen.__anext__()  # "resumed" comment
        await gen.__anext__()  # heartbeat after 0.05 s of silence
        assert p.feed("") == [] and c.metrics.subscribers.labels("na")._value.get() == 1
        await gen.aclose()
        q = c.subscribe()
        for i in range(1800):  # F F T ...: 2 transitions per 3 probes, more than the queue holds
            c.record("eu", result(i % 3 == 2, clock))
        assert q not in c.subscribers and q.get_nowait() is None
        text = generate_latest(c.registry).decode()
        assert (
            'dnslab_healthcheck_probe_results_total{checker="na",outcome="refused",region="eu"} 1200.0'
            in text
        )
        assert 'dnslab_healthcheck_region_up{checker="na",region="us"} -1.0' in text
        assert "dnslab_healthcheck_probe_duration_seconds_bucket" in text
        assert 'dnslab_healthcheck_transitions_total{checker="na",region="eu",state="up"}' in text

    asyncio.run(go())


def test_close_ends_a_stream_still_waiting_for_the_first_round() -> None:
    async def go() -> None:
        c, clock = make()
        gen = event_stream(c, None, clock.now)
        assert (await gen.__anext__()).startswith(b": waiting")
        c.close()
        chunks = [chunk async for chunk in gen]
        assert chunks == []  # no snapshot of "unknown" regions on the way out

    asyncio.run(go())
