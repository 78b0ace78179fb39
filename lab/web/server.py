"""``WebServer``: the page, its static files and the SSE stream of an ``EventHub``.

Routes (loopback only, GET only):

==================  ==========================================================================
``/``               the page (``static/index.html``)
``/static/NAME``    its script and style sheet (package data; no build step, no CDN)
``/meta.json``      what the page shows: ``{"mode": "live"}`` (the stream) or ``"view"``
``/events``         ``text/event-stream``: a ``snapshot`` (meta and the page's model,
                    ``lab.web.model``) on a fresh connection, then one message per typed drill
                    event with id ``BOOT-SEQ`` and the model's change (``patch``); a reconnect
                    with a ``Last-Event-ID`` the hub still keeps resumes after it (no snapshot,
                    nothing missed, nothing twice), an older one gets a snapshot; ``end`` when
                    the hub closes
``/model.json``     ``dnslab view DIR`` of a drill: the page's model of DIR's results.json
``/results.json``   ``dnslab view DIR``: DIR's results.json (a drill's or a sweep's)
==================  ==========================================================================
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import parse_qs, urlsplit

from lab.errors import ConfigError
from lab.web.hub import EventHub
from lab.web.model import view_model

DEFAULT_LISTEN = "127.0.0.1:8787"
RETRY_MS = 1000  # the browser's reconnect delay (the stream's ``retry:`` field)
KEEPALIVE_S = 10.0
STATIC = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def parse_web_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError(
            f"--web {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN} (port 0: any)"
        )
    if not host.startswith("127.") and host != "localhost":
        raise ConfigError(f"--web {text!r}: the page binds loopback only (127.0.0.0/8)")
    return host, int(port)


def static_file(name: str) -> bytes:
    return resources.files("lab.web").joinpath("static", name).read_bytes()


class WebServer:
    """Serves the page for ``hub`` (live) or for a results.json (``results``, view mode)."""

    def __init__(
        self, host: str, port: int, hub: EventHub | None = None, results: Path | None = None
    ) -> None:
        self.hub, self.results = hub, results
        self.stopping = threading.Event()
        self._streams: set[socket.socket] = set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._route(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = host, int(self.httpd.server_address[1])
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def start(self) -> WebServer:
        self._thread.start()
        return self

    def stop(self, drain: float = 0.0) -> None:
        """Stop serving. With ``drain`` (the hub was closed) give open streams that long to
        send ``end``; then every open stream is cut (a browser reconnects to a new server)."""
        deadline = time.monotonic() + drain
        while self.streams and time.monotonic() < deadline:
            time.sleep(0.02)
        self.stopping.set()
        if self._thread.is_alive():
            self.httpd.shutdown()
            self._thread.join(timeout=5)
        with self._lock:
            for sock in self._streams:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self.httpd.server_close()

    # -- routes ------------------------------------------------------------------------------

    def _route(self, h: BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        path = url.path
        if path == "/":
            path = "/static/index.html"
        if path.startswith("/static/") and path[8:] in STATIC:
            self._send(h, static_file(path[8:]), STATIC[path[8:]])
        elif path == "/favicon.ico":
            h.send_response(204)
            h.end_headers()
        elif path == "/meta.json":
            meta: dict[str, Any] = {"mode": "live" if self.hub is not None else "view"}
            if self.hub is not None:
                meta.update(self.hub.meta)
            elif self.results is not None:
                meta["results"] = str(self.results)
            self._send(h, json.dumps(meta).encode(), "application/json")
        elif path == "/results.json" and self.results is not None:
            self._send(h, self.results.read_bytes(), "application/json")
        elif path == "/model.json" and self.results is not None:
            results = json.loads(self.results.read_text())
            if results.get("schema") != "dnslab.drill.results/1":
                h.send_error(404, "no page model for a sweep's results.json (see /results.json)")
                return
            doc = view_model(results)
            self._send(h, json.dumps(doc, allow_nan=False).encode(), "application/json")
        elif path == "/events" and self.hub is not None:
            last = h.headers.get("Last-Event-ID") or parse_qs(url.query).get("last", [""])[0]
            self._stream(h, self.hub, last)
        else:
            h.send_error(404, f"no {path} here")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, body: bytes, ctype: str) -> None:
        h.send_response(200)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Cache-Control", "no-store")
        h.end_headers()
        h.wfile.write(body)

    def _stream(self, h: BaseHTTPRequestHandler, hub: EventHub, last: str | None) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream; charset=utf-8")
        h.send_header("Cache-Control", "no-store")
        h.send_header("X-Accel-Buffering", "no")  # a reverse proxy must not buffer the stream
        h.end_headers()
        with self._registered(h.connection):
            try:
                seq = hub.resume_from(last)
                out = [f"retry: {RETRY_MS}\n\n"]
                if seq is None:
                    seq, doc = hub.snapshot()
                    out.append(f"event: snapshot\nid: {hub.event_id(seq)}\ndata: {doc}\n\n")
                h.wfile.write("".join(out).encode())
                h.wfile.flush()
                quiet = time.monotonic()
                while not self.stopping.is_set():
                    lines, closed = hub.since(seq, 0.5)
                    if lines is None:  # fell behind what the hub keeps: start afresh
                        seq, doc = hub.snapshot()
                        body = f"event: snapshot\nid: {hub.event_id(seq)}\ndata: {doc}\n\n"
                    elif lines:
                        body = "".join(
                            f"id: {hub.event_id(seq + i + 1)}\ndata: {line}\n\n"
                            for i, line in enumerate(lines)
                        )
                        seq += len(lines)
                        quiet = time.monotonic()
                    elif closed:
                        h.wfile.write(b"event: end\ndata: {}\n\n")
                        h.wfile.flush()
                        return
                    elif time.monotonic() - quiet > KEEPALIVE_S:
                        body, quiet = ": keepalive\n\n", time.monotonic()
                    else:
                        continue
                    h.wfile.write(body.encode())
                    h.wfile.flush()
            except OSError:  # the browser went away, or stop() cut the stream
                return

    @contextlib.contextmanager
    def _registered(self, sock: socket.socket) -> Iterator[None]:
        with self._lock:
            self._streams.add(sock)
        try:
            yield
        finally:
            with self._lock:
                self._streams.discard(sock)


@contextlib.contextmanager
def serving_hub(listen: str, meta: dict[str, Any], err: TextIO) -> Iterator[EventHub | None]:
    """The live page for the ``with`` block: an ``EventHub`` (a drill event sink) and its
    server on ``listen`` (another free port on that host if it is taken). On exit the hub is
    closed (pages show the end) and the server stops."""
    host, port = parse_web_listen(listen)
    hub = EventHub(meta)
    try:
        server = WebServer(host, port, hub).start()
    except OSError as exc:
        try:
            server = WebServer(host, 0, hub).start()
        except OSError:
            err.write(f"warning: live page not served: cannot listen on {listen}: {exc.strerror}\n")
            yield None
            return
        err.write(f"live page: {listen} is taken ({exc.strerror}); using port {server.port}\n")
    err.write(f"live page: {server.url} (--no-web turns it off)\n")
    try:
        yield hub
    finally:
        hub.close()
        server.stop(drain=2.0)
