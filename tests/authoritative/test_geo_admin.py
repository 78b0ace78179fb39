"""The admin API in process (Starlette AdminClient, no sockets): auth, 404/422, reload, explain."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from authoritative.admin import create_app
from authoritative.geo_runtime import GeoRuntime
from authoritative.state import ServingState
from lab.clock import VirtualClock
from lab.config import parse_config
from lab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer s3cret"}


class AdminClient:
    """A sync client over httpx's in-process ASGI transport (no sockets)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://admin") as c:
                return await c.request(method, url, **kw)

        return asyncio.run(go())

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def put(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)


async def nothing() -> None:
    pass


def make(
    reload: Callable[[], Awaitable[None]] = nothing, token: str | None = "s3cret"
) -> tuple[AdminClient, GeoRuntime, list[ServingState]]:
    cfg = parse_config((REPO / "lab.toml").read_text(), "lab.toml", str(REPO))
    swapped: list[ServingState] = []
    registry = CollectorRegistry()
    runtime = GeoRuntime(cfg, ServingState({}), swapped.append, registry, VirtualClock(1000.0))  # type: ignore[arg-type]
    return AdminClient(create_app(runtime, token, reload, registry)), runtime, swapped


def test_get_health_lists_every_region() -> None:
    client, _, _ = make()
    body = client.get("/v1/health").json()
    assert set(body["regions"]) == {"us-east", "eu-west", "ap-south"}
    assert body["regions"]["eu-west"]["state"] == "up"
    assert "assumed up" in body["regions"]["eu-west"]["why"]


def test_force_and_clear_swap_a_new_state() -> None:
    client, runtime, swapped = make()
    n = len(swapped)
    r = client.put("/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
    assert r.status_code == 200 and r.json()["state"] == "down" and r.json()["forced"] is True
    assert len(swapped) == n + 1 and not runtime.view().is_up("eu-west")
    r = client.put("/v1/health/eu-west", json={"state": None}, headers=AUTH)
    assert r.status_code == 200 and runtime.view().is_up("eu-west")


def test_writes_need_the_token() -> None:
    client, runtime, _ = make()
    r = client.put("/v1/health/eu-west", json={"state": "down"})
    assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    bad = {"Authorization": "Bearer nope"}
    assert client.put("/v1/health/eu-west", json={"state": "down"}, headers=bad).status_code == 401
    assert client.post("/v1/reload").status_code == 401
    assert runtime.view().is_up("eu-west")
    off, _, _ = make(token=None)
    r = off.put("/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
    assert r.status_code == 401 and "DNSLAB_ADMIN_TOKEN" in r.json()["detail"]


def test_unknown_region_is_404_naming_known_ones() -> None:
    client, _, _ = make()
    r = client.put("/v1/health/eu-wst", json={"state": "down"}, headers=AUTH)
    assert r.status_code == 404
    assert r.json()["detail"] == "unknown region 'eu-wst' (known: us-east, eu-west, ap-south)"


@pytest.mark.parametrize("payload", [{"state": "sideways"}, {}, {"state": "up", "x": 1}, [1]])
def test_bad_payload_is_422_with_a_clear_message(payload: object) -> None:
    client, _, _ = make()
    r = client.put("/v1/health/eu-west", json=payload, headers=AUTH)
    assert r.status_code == 422
    assert r.json()["detail"].startswith('expected a JSON body {"state": "up" | "down" | null}')


def test_reload_refuses_a_bad_file_and_keeps_serving() -> None:
    async def broken() -> None:
        raise ConfigError("lab.toml: services.www.order.eu[1]: unknown region 'eu-wst'")

    client, _, swapped = make(broken)
    n = len(swapped)
    r = client.post("/v1/reload", headers=AUTH)
    assert r.status_code == 400 and "eu-wst" in r.json()["error"] and not r.json()["reloaded"]
    assert len(swapped) == n
    ok, _, _ = make()
    assert ok.post("/v1/reload", headers=AUTH).json()["reloaded"] is True


def test_explain_endpoint() -> None:
    client, _, _ = make()
    client.put("/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
    e = client.get("/v1/explain", params={"name": "www.lab.example.", "client": "127.2.0.7"}).json()
    assert e["location"] == "eu" and e["matched"] == "127.2.0.0/16"
    assert e["answer"] == ["www.lab.example. 30 IN A 127.0.1.1"]
    assert [r["verdict"] for r in e["regions"]] == ["skipped: down", "chosen", "not reached"]
    e = client.get(
        "/v1/explain", params={"name": "www.lab.example", "client": "127.3.0.0/24", "type": "AAAA"}
    ).json()
    assert e["client"] == "ECS 127.3.0.0/24" and e["answer"] == [] and e["outcome"] == "NODATA"
    r = client.get("/v1/explain", params={"name": "static.lab.example.", "client": "127.2.0.7"})
    assert r.status_code == 404 and "not a GeoDNS service" in r.json()["detail"]
    r = client.get("/v1/explain", params={"name": "www.lab.example.", "client": "nowhere"})
    assert r.status_code == 422


def test_metrics_include_geo_gauges() -> None:
    client, _, _ = make()
    client.put("/v1/health/ap-south", json={"state": "down"}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'dnslab_authoritative_region_up{region="ap-south"} 0.0' in text
    assert 'dnslab_authoritative_region_forced{region="ap-south"} -1.0' in text
    assert "dnslab_authoritative_geo_swaps_total" in text


def test_feed_states_in_health() -> None:
    client, runtime, _ = make()
    assert client.get("/v1/health").json()["feeds"] == {"local": "never connected"}
    runtime.on_status("local", True)
    assert client.get("/v1/health").json()["feeds"] == {"local": "up"}
    runtime.on_status("local", False)
    assert client.get("/v1/health").json()["feeds"] == {"local": "down"}


def test_form_encoded_body_like_curl_d_works_and_missing_params_are_named() -> None:
    client, runtime, _ = make()
    r = client.put(
        "/v1/health/eu-west",
        content=b'{"state": "down"}',
        headers={**AUTH, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200 and not runtime.view().is_up("eu-west")
    r = client.get("/v1/explain", params={"client": "127.0.0.1"})
    assert r.status_code == 422 and r.json()["detail"] == "bad request: query name: Field required"


def test_explain_health_line_names_feeds_quorum_and_overrides() -> None:
    client, _, _ = make()
    client.put("/v1/health/ap-south", json={"state": "down"}, headers=AUTH)
    e = client.get("/v1/explain", params={"name": "www.lab.example.", "client": "127.1.0.1"}).json()
    assert e["health"] == (
        "live; feeds: local never connected; quorum 1 of 1 (majority); forced: ap-south down"
    )
