"""The region app in memory (httpx ASGI transport: no sockets)."""

from __future__ import annotations

import asyncio

import httpx
from prometheus_client import CollectorRegistry

from lab.clock import VirtualClock
from regions.app import RegionRuntime, create_app


def make() -> tuple[RegionRuntime, httpx.AsyncClient, VirtualClock]:
    clock = VirtualClock(50.0)
    rt = RegionRuntime("eu-west", CollectorRegistry(), clock=clock.now)
    transport = httpx.ASGITransport(app=create_app(rt))
    return rt, httpx.AsyncClient(transport=transport, base_url="http://region"), clock


def test_root_names_region_and_instance() -> None:
    async def go() -> None:
        rt, client, _ = make()
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
        _rt, client, clock = make()
        async with client:
            r = await client.post("/v1/faults", json={"fault": "nope"})
            assert r.status_code == 422
            assert r.json()["field"] == "fault"
            assert "error-rate" in r.json()["known_faults"]
            r = await client.post("/v1/faults", json={"fault": "down"})
            assert r.status_code == 422 and r.json()["field"] == "duration"
            r = await client.post("/v1/faults", content=b"{not json")
            assert r.status_code == 422 and r.json()["field"] == "body"
            r = await client.post("/v1/faults", json={"fault": "healthz-only", "duration": 5})
            assert r.status_code == 200
            assert r.json()["faults"]["healthz-only"]["expires_in_s"] == 5
            assert (await client.get("/healthz")).status_code == 503
            assert (await client.get("/")).status_code == 200
            clock.advance(5)
            assert (await client.get("/healthz")).status_code == 200
            await client.post("/v1/faults", json={"fault": "error-rate", "rate": 1.0})
            assert (await client.get("/")).status_code == 503
            assert (await client.get("/v1/faults")).json()["faults"]["error-rate"]["rate"] == 1.0
            text = (await client.get("/metrics")).text
            assert (
                'dnslab_region_requests_total{kind="traffic",region="eu-west",status="503"} 1.0'
                in text
            )
            assert 'dnslab_region_fault_active{fault="error-rate",region="eu-west"} 1.0' in text
            assert 'dnslab_region_fault_active{fault="hang",region="eu-west"} 0.0' in text

    asyncio.run(go())
