"""The region app in memory (httpx ASGI transport: no sockets)."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry

from lab.auth import CHALLENGE_HEADER, PROOF_HEADER, sign
from lab.clock import VirtualClock
from regions.app import RegionRuntime, create_app

CONTROL = 9000  # the ASGI transport reports the URL's port as the server port


def make(
    key: bytes | None = None, token: str | None = None
) -> tuple[RegionRuntime, httpx.AsyncClient, VirtualClock, httpx.AsyncClient]:
    """(runtime, client of the main port, clock, client of the control port)."""
    clock = VirtualClock(50.0)
    rt = RegionRuntime(
        "eu-west", CollectorRegistry(), clock=clock.now, control_port=CONTROL, key=key, token=token
    )
    app = create_app(rt)
    main = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://region:80")
    control = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=f"http://region:{CONTROL}"
    )
    return rt, main, clock, control


def test_root_names_region_and_instance() -> None:
    async def go() -> None:
        rt, client, _, _ = make()
        async with client:
            r = await client.get("/")
            assert r.status_code == 200
            assert r.headers["x-region"] == "eu-west"
            body = r.json()
            assert body["region"] == "eu-west" and body["instance"] == rt.instance
            assert (await client.get("/healthz")).status_code == 200

    asyncio.run(go())


def test_faults_api_and_metrics() -> None:
    async def go() -> None:
        _rt, client, clock, ctl = make()
        async with client, ctl:
            r = await ctl.post("/v1/faults", json={"fault": "nope"})
            assert r.status_code == 422
            assert r.json()["field"] == "fault"
            assert "error-rate" in r.json()["known_faults"]
            r = await ctl.post("/v1/faults", content=b"{not json")
            assert r.status_code == 422 and r.json()["field"] == "body"
            r = await ctl.post("/v1/faults", json={"fault": "healthz-only", "duration": 5})
            assert r.status_code == 200
            assert r.json()["faults"]["healthz-only"]["expires_in_s"] == 5
            assert (await client.get("/healthz")).status_code == 503
            assert (await client.get("/")).status_code == 200
            clock.advance(5)
            assert (await client.get("/healthz")).status_code == 200
            await ctl.post("/v1/faults", json={"fault": "error-rate", "rate": 1.0})
            assert (await client.get("/")).status_code == 503
            assert (await ctl.get("/v1/faults")).json()["faults"]["error-rate"]["rate"] == 1.0
            text = (await client.get("/metrics")).text
            assert (
                'dnslab_region_requests_total{kind="traffic",region="eu-west",status="503"} 1.0'
                in text
            )
            assert 'dnslab_region_fault_active{fault="error-rate",region="eu-west"} 1.0' in text
            assert 'dnslab_region_fault_active{fault="hang",region="eu-west"} 0.0' in text

    asyncio.run(go())


def test_fault_api_only_on_control_port_and_token() -> None:
    """Finding 6 / item 1: no fault API on the service port; on the control port a POST
    needs the region's bearer token (GET stays readable)."""

    async def go() -> None:
        rt, main, _, ctl = make(token="s3cret")
        async with main, ctl:
            for method in ("GET", "POST"):
                r = await main.request(method, "/v1/faults", json={"fault": "slow", "ms": 5})
                assert r.status_code == 404 and "control port only" in r.json()["error"]
            r = await ctl.post("/v1/faults", json={"fault": "slow", "ms": 5})
            assert r.status_code == 401 and "bearer" in r.json()["error"]
            bad = {"Authorization": "Bearer s3cre"}
            assert (
                await ctl.post("/v1/faults", json={"fault": "clear"}, headers=bad)
            ).status_code == 401
            assert not rt.state.active(0)
            good = {"Authorization": "Bearer s3cret"}
            r = await ctl.post("/v1/faults", json={"fault": "slow", "ms": 5}, headers=good)
            assert r.status_code == 200 and "slow" in r.json()["faults"]
            assert (await ctl.get("/v1/faults")).status_code == 200

    asyncio.run(go())


def test_healthz_proof_answers_the_challenge() -> None:
    async def go() -> None:
        key = b"k" * 32
        _, main, _, ctl = make(key=key)
        async with main, ctl:
            r = await main.get("/healthz", headers={CHALLENGE_HEADER: "abc"})
            assert r.headers[PROOF_HEADER] == sign(key, "healthz", "abc")
            assert r.headers[PROOF_HEADER] != sign(key, "healthz", "abd")
            assert PROOF_HEADER not in (await main.get("/healthz")).headers  # no challenge

    asyncio.run(go())
