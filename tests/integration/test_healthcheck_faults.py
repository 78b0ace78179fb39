"""The checker against real regions with named faults: each fault is caught the right way.

hang → timeout; error-rate 1.0 → status; healthz-only → status while traffic is fine;
flap → never changes state faster than fall/rise allow; TCP probes and body matching.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request
from typing import Any

import pytest

from healthcheck.events import StateEvent
from healthcheck.feed import HealthFeed, running
from lab.auth import derive
from lab.procs import ProcessGroup, free_port, http_ready, tcp_ready, wait_for_async
from tests.conftest import DNSLAB, fault_auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]

INTERVAL, TIMEOUT, FALL, RISE = 0.25, 0.15, 2, 3


def post(url: str, payload: dict[str, Any], region: str) -> None:
    """POST a fault with ``region``'s token (the session's default lab secret)."""
    req = urllib.request.Request(
        url, json.dumps(payload).encode(), fault_auth(region), method="POST"
    )
    with urllib.request.urlopen(req, timeout=2) as resp:
        assert resp.status == 200


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.loads(resp.read())


def start_regions(procs: ProcessGroup, names: list[str]) -> dict[str, tuple[int, int]]:
    ports = {n: (free_port(), free_port()) for n in names}
    children = {
        n: procs.start(
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
        for n, (p, c) in ports.items()
    }
    for n, child in children.items():
        procs.wait_ready(child, http_ready(f"http://127.0.0.1:{ports[n][0]}/healthz"), timeout=30)
    return ports


def start_checker(procs: ProcessGroup, targets: list[str], *extra: str) -> int:
    port = free_port()
    argv = [DNSLAB, "healthcheck", "--listen", f"127.0.0.1:{port}", "--name", "faults"]
    argv += [f"--interval={INTERVAL}", f"--timeout={TIMEOUT}", f"--fall={FALL}", f"--rise={RISE}"]
    for t in targets:
        argv += ["--target", t]
    child = procs.start(f"checker{port}", [*argv, *extra])
    procs.wait_ready(child, tcp_ready("127.0.0.1", port))
    return port


def test_each_fault_is_caught_the_right_way(procs: ProcessGroup, lab_secret: bytes) -> None:
    names = ["hang", "errors", "healthz", "flap"]
    ports = start_regions(procs, names)
    hport = start_checker(
        procs, [f"{n}=http://127.0.0.1:{p}/healthz" for n, (p, _) in ports.items()]
    )
    events: list[StateEvent] = []
    posted: dict[str, float] = {}
    feed = HealthFeed(  # verifies the checker's signed stream, as the server does
        f"http://127.0.0.1:{hport}/v1/events",
        on_event=events.append,
        key=derive(lab_secret, "checker", "faults"),
        checker="faults",
    )

    def state(n: str) -> str | None:
        s = feed.view.get(n)
        return None if s is None else s.state

    def flap_transitions() -> list[StateEvent]:
        return [
            e
            for e in events
            if e.status.region == "flap" and "flap" in posted and e.at >= posted["flap"]
        ]

    async def go() -> None:
        async with running(feed):
            await wait_for_async(lambda: all(state(n) == "up" for n in names), 10, "all up")
            posted["hang"] = time.time()
            post(f"http://127.0.0.1:{ports['hang'][1]}/v1/faults", {"fault": "hang"}, "hang")
            posted["errors"] = time.time()
            post(
                f"http://127.0.0.1:{ports['errors'][1]}/v1/faults",
                {"fault": "error-rate", "rate": 1.0},
                "errors",
            )
            post(
                f"http://127.0.0.1:{ports['healthz'][1]}/v1/faults",
                {"fault": "healthz-only"},
                "healthz",
            )
            posted["flap"] = time.time()
            post(
                f"http://127.0.0.1:{ports['flap'][1]}/v1/faults",
                {"fault": "flap", "period": 1.0},
                "flap",
            )
            await wait_for_async(
                lambda: all(state(n) == "down" for n in names[:3]), 5, "faulted regions down"
            )
            # down, up, down: three transitions of a 1 s flap take about 3 s; wait for them, not
            # for a fixed time (mutation: `return True` in regions/faults.flap_is_down, a flap
            # that never comes back, times out here)
            await wait_for_async(lambda: len(flap_transitions()) >= 3, 15, "three flap transitions")

    asyncio.run(go())
    reasons = {e.status.region: e.status.reason for e in events if e.status.state == "down"}
    assert reasons["hang"] == f"2 consecutive failures: timeout after {TIMEOUT:.2f}s"
    assert reasons["errors"] == "2 consecutive failures: status 503 (expected 200)"
    assert reasons["healthz"] == "2 consecutive failures: status 503 (expected 200)"
    for region in ("hang", "errors"):  # within the detection bound fall·interval + timeout
        at = next(e.at for e in events if e.status.region == region and e.status.state == "down")
        assert at - posted[region] <= FALL * INTERVAL + TIMEOUT + 0.2, (region, at - posted[region])
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['healthz'][0]}/", timeout=2) as r:
        assert r.status == 200  # traffic fine, health failing
    # flap: between two transitions there are at least fall (to down) / rise (to up) probes
    flap = flap_transitions()
    assert len(flap) >= 3, flap
    assert [e.status.state for e in flap[:3]] == ["down", "up", "down"]
    for prev, cur in itertools.pairwise(flap):
        need = FALL if cur.status.state == "down" else RISE
        assert cur.status.probes - prev.status.probes >= need
        assert cur.at - prev.at >= (need - 1) * INTERVAL
    status = get_json(f"http://127.0.0.1:{hport}/v1/status")
    assert {r["region"]: r["state"] for r in status["regions"]}["hang"] == "down"
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{hport}/metrics", timeout=2).read().decode()
    assert (
        'dnslab_healthcheck_probe_results_total{checker="faults",outcome="timeout",region="hang"}'
        in metrics
    )
    assert 'dnslab_healthcheck_region_up{checker="faults",region="errors"} 0.0' in metrics


def test_tcp_probe_body_match_and_slow_rtt(procs: ProcessGroup) -> None:
    ports = start_regions(procs, ["slow"])
    port, control = ports["slow"]
    post(f"http://127.0.0.1:{control}/v1/faults", {"fault": "slow", "ms": 60}, "slow")
    dead = free_port()
    hport = start_checker(
        procs,
        [
            f"slow=http://127.0.0.1:{port}/healthz",
            f"tcp=tcp://127.0.0.1:{port}",
            f"gone=tcp://127.0.0.1:{dead}",
        ],
        "--body-match",
        '"status":"ok"',
    )

    def regions() -> dict[str, Any]:
        return {r["region"]: r for r in get_json(f"http://127.0.0.1:{hport}/v1/status")["regions"]}

    async def go() -> None:
        await wait_for_async(
            lambda: all(r["state"] != "unknown" for r in regions().values()), 5, "verdicts"
        )

    asyncio.run(go())
    r = regions()
    assert r["slow"]["state"] == "up" and r["slow"]["last_detail"] == "status 200, body matched"
    assert r["slow"]["rtt_s"] >= 0.06
    assert r["tcp"]["state"] == "up" and r["tcp"]["rtt_s"] < 0.06
    assert (
        r["gone"]["state"] == "down"
        and r["gone"]["reason"] == "first probe failed: connect refused"
    )
