"""The drill's ``/metrics`` endpoint, and the wait that keeps a short run's last samples.

Prometheus scrapes every ``scrape_interval``; a drill that ends between two scrapes would take
its final samples (the windows observed at the end, the final delays) with it. So after the
last run the drill *lingers*: if anything has scraped the endpoint, it keeps serving until one
scrape that began after the final samples were set has been answered, or until the linger
timeout; if nothing ever scraped it, it does not wait (nobody is collecting). Either way it
says what happened on stderr.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TextIO

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from lab.drill.metrics import DrillMetrics
from lab.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:9310"
DEFAULT_LINGER_S = 15.0


def parse_listen(
    text: str, flag: str = "--metrics", example: str = DEFAULT_LISTEN
) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        off = ", or off" if flag == "--metrics" else ""
        raise ConfigError(f"{flag} {text!r}: expected HOST:PORT, e.g. {example}{off}")
    return host, int(port)


class MetricsServer:
    """Serves ``registry`` on ``http://HOST:PORT/metrics`` from a background thread."""

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._answered: list[float] = []  # monotonic start times of answered scrapes
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404, "only /metrics here")
                    return
                began = time.monotonic()
                encoder, ctype = choose_encoder(self.headers.get("Accept", ""))
                body = encoder(server.registry)
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                with server._lock:
                    server._answered.append(began)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    @property
    def scrapes(self) -> int:
        with self._lock:
            return len(self._answered)

    def scraped_since(self, mark: float) -> bool:
        with self._lock:
            return any(t >= mark for t in self._answered)

    def linger(self, timeout: float, poll: float = 0.05) -> str:
        """Wait for one scrape that began now or later; returns what happened, for stderr."""
        if self.scrapes == 0:
            return f"drill metrics: {self.url} was never scraped; not waiting for a final scrape"
        mark = time.monotonic()
        deadline = mark + timeout
        while time.monotonic() < deadline:
            if self.scraped_since(mark):
                waited = time.monotonic() - mark
                return f"drill metrics: final scrape of {self.url} answered after {waited:.1f}s"
            time.sleep(poll)
        return (
            f"drill metrics: no scrape of {self.url} within {timeout:g}s after the drill; "
            "the last samples may be missing from Prometheus"
        )

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever: only if it runs
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        self.httpd.server_close()


@contextlib.contextmanager
def serving(
    listen: str, linger: float, regions: Iterable[str], err: TextIO
) -> Iterator[DrillMetrics | None]:
    """The drill's exporter for the ``with`` block: serves ``DrillMetrics`` on ``listen``,
    lingers for a final scrape on a normal exit, stops. Yields None (and says why on ``err``)
    when the address cannot be bound: the drill runs on without an endpoint."""
    host, port = parse_listen(listen)
    registry = CollectorRegistry()
    sink = DrillMetrics(registry, regions)
    try:
        server = MetricsServer(registry, host, port).start()
    except OSError as exc:
        err.write(
            f"warning: drill metrics not served: cannot listen on {listen}: {exc.strerror} "
            "(pass --metrics HOST:PORT or --metrics off)\n"
        )
        yield None
        return
    err.write(f"drill metrics: serving {server.url}\n")
    try:
        yield sink
        err.write(server.linger(linger) + "\n")
        for problem in sink.mismatches[:5]:
            err.write(f"drill metrics: {problem}\n")
    finally:
        server.stop()
