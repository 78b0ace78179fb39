"""The drill's /metrics endpoint and its final-scrape linger, over real loopback HTTP."""

from __future__ import annotations

import io
import socket
import threading
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Gauge

from lab.drill.metrics_server import MetricsServer, parse_listen, serving
from lab.errors import ConfigError
from lab.procs import free_port, wait_for

pytestmark = pytest.mark.integration


def scrape(url: str, accept: str = "") -> tuple[str, str]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return resp.headers["Content-Type"], resp.read().decode()


def test_serves_text_and_openmetrics() -> None:
    reg = CollectorRegistry()
    Gauge("dnslab_drill_run_active", "x", registry=reg).set(1)
    server = MetricsServer(reg, "127.0.0.1", free_port()).start()
    try:
        ctype, body = scrape(server.url)
        assert ctype.startswith("text/plain") and "dnslab_drill_run_active 1.0" in body
        ctype, body = scrape(server.url, "application/openmetrics-text; version=1.0.0")
        assert ctype.startswith("application/openmetrics-text") and body.endswith("# EOF\n")
        with pytest.raises(urllib.error.HTTPError):
            scrape(server.url.replace("/metrics", "/other"))
        # a scrape counts once its response is written (the client may read it first)
        wait_for(lambda: server.scrapes == 2, 5, "two scrapes counted")
    finally:
        server.stop()


def test_linger_waits_for_a_scrape_after_the_end() -> None:
    server = MetricsServer(CollectorRegistry(), "127.0.0.1", free_port()).start()
    try:
        assert "never scraped" in server.linger(5.0)  # nobody collects: no wait
        scrape(server.url)  # a scraper exists now
        # counted once its response is written: the client may have read it first
        wait_for(lambda: server.scrapes == 1, 5, "the first scrape counted")
        later = threading.Timer(0.3, scrape, (server.url,))
        later.start()
        said = server.linger(10.0)
        later.join()
        assert "final scrape" in said and "answered" in said
        assert "no scrape" in server.linger(0.2)  # the scraper went away: bounded wait
    finally:
        server.stop()


def test_address_taken_or_malformed() -> None:
    with pytest.raises(ConfigError, match="HOST:PORT"):
        parse_listen("9310")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = io.StringIO()
        with serving(f"127.0.0.1:{port}", 1.0, ["eu-west"], err) as sink:
            assert sink is None
        assert "not served" in err.getvalue() and "--metrics off" in err.getvalue()
