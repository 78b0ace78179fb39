"""A real Prometheus scrapes every component's /metrics on loopback, and finds dnslab_* series.

This is the seam the Grafana dashboards stand on: the configuration is ``lab.prometheus.document``
(the one shape `dnslab up --prometheus` and the container lab write) with the free ports the test
uses, and Prometheus is started by ``lab.prometheus.start``, as `dnslab up --prometheus` starts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from lab.procs import ProcessGroup, free_port, http_ready, udp_dns_ready, wait_for
from tests.conftest import DNSLAB, require_tool
from tests.integration.geo_lab import write_lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]

JOBS = ("authoritative", "healthcheck", "resolver", "regions")


def _targets(prom_port: int) -> list[dict[str, Any]]:
    resp = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/targets", timeout=2.0)
    resp.raise_for_status()
    active: list[dict[str, Any]] = resp.json()["data"]["activeTargets"]
    return active


def _all_up(prom_port: int) -> bool:
    try:
        active = _targets(prom_port)
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    up = {t["labels"]["job"] for t in active if t["health"] == "up"}
    return up == set(JOBS)


def _series_by_job(prom_port: int) -> dict[str, set[str]]:
    query = 'group by (job, __name__) ({__name__=~"dnslab_.+"})'
    resp = httpx.get(
        f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": query}, timeout=2.0
    )
    resp.raise_for_status()
    found: dict[str, set[str]] = {}
    for item in resp.json()["data"]["result"]:
        found.setdefault(item["metric"]["job"], set()).add(item["metric"]["__name__"])
    return found


def test_prometheus_scrapes_every_component(procs: ProcessGroup, tmp_path: Path) -> None:
    require_tool("prometheus")  # lab.prometheus.start finds it as `dnslab up` does
    region_port, checker_port, resolver_port, resolver_metrics, prom_port = (
        free_port() for _ in range(5)
    )

    region = procs.start(
        "region", [DNSLAB, "region", "--name", "us-east", "--listen", f"127.0.0.1:{region_port}"]
    )
    procs.wait_ready(region, http_ready(f"http://127.0.0.1:{region_port}/healthz"))
    checker = procs.start(
        "healthcheck",
        [DNSLAB, "healthcheck", "--listen", f"127.0.0.1:{checker_port}", "--interval", "0.5",
         "--target", f"us-east=http://127.0.0.1:{region_port}/healthz"],
        cwd=tmp_path,
    )  # fmt: skip
    procs.wait_ready(checker, http_ready(f"http://127.0.0.1:{checker_port}/v1/status"))

    config, dns_port, admin_port = write_lab(tmp_path, checker_port=checker_port)
    auth = procs.start(
        "authoritative",
        [DNSLAB, "authoritative", "--config", str(config), "--listen", f"127.0.0.1:{dns_port}",
         "--admin", f"127.0.0.1:{admin_port}"],
    )  # fmt: skip
    procs.wait_ready(auth, udp_dns_ready("127.0.0.1", dns_port))
    procs.wait_ready(auth, http_ready(f"http://127.0.0.1:{admin_port}/metrics"))
    resolver = procs.start(
        "resolver",
        [DNSLAB, "resolver", "--upstream", f"127.0.0.1:{dns_port}",
         "--listen", f"127.0.0.1:{resolver_port}", "--metrics", f"127.0.0.1:{resolver_metrics}"],
        cwd=tmp_path,
    )  # fmt: skip
    procs.wait_ready(resolver, http_ready(f"http://127.0.0.1:{resolver_metrics}/metrics"))

    from lab import prometheus as lab_prom
    from lab.promconfig import JOBS as ALL_JOBS
    from lab.promconfig import document

    assert set(JOBS) < set(ALL_JOBS)  # every job the dashboards read but the drill's
    # no drill runs here (tests/integration/test_observability_live.py scrapes one)
    ports = {
        "authoritative": admin_port,
        "healthcheck": checker_port,
        "resolver": resolver_metrics,
        "regions": region_port,
    }
    config = document({job: [f"127.0.0.1:{ports[job]}"] for job in JOBS}, [], "1s")
    lab_prom.start(procs, config, tmp_path / "prometheus", f"127.0.0.1:{prom_port}")
    wait_for(lambda: _all_up(prom_port), 30, "prometheus: every target up", interval=0.2)
    wait_for(
        lambda: set(_series_by_job(prom_port)) == set(JOBS),
        30,
        "prometheus: dnslab_* series from every job",
        interval=0.2,
    )
    series = _series_by_job(prom_port)
    assert any(name.startswith("dnslab_authoritative_") for name in series["authoritative"])
    assert any(name.startswith("dnslab_healthcheck_") for name in series["healthcheck"])
    assert any(name.startswith("dnslab_resolver_") for name in series["resolver"])
    assert any(name.startswith("dnslab_region") for name in series["regions"])
