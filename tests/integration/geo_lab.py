"""Helpers for GeoDNS integration tests: a lab.toml on free ports, DNS from chosen sources,
the admin API, and a fake checker event stream with exact health values."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import dns.query
import httpx

from healthcheck import sse
from lab.auth import NONCE_HEADER, StreamSigner, derive, load_secret
from lab.errors import ProcessError
from lab.procs import ProcessGroup, free_port, on_fresh_ports, udp_dns_ready
from tests.conftest import DNSLAB, REPO

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def write_lab(
    tmp: Path, extra: str = "", checker_port: int | None = None, **replace: str
) -> tuple[Path, int, int]:
    """The shipped lab.toml on free ports (DNS, admin), a token and absolute zone paths."""
    dns_port, admin_port = free_port(), free_port()
    text = (REPO / "lab.toml").read_text()
    text = text.replace('"127.0.0.1:5300"         # DNS', f'"127.0.0.1:{dns_port}"  # DNS')
    text = text.replace('"127.0.0.1:8053"', f'"127.0.0.1:{admin_port}"')
    text = text.replace('# token = "change-me"', f'token = "{TOKEN}"')
    text = text.replace('"zones/lab.example.zone"', f'"{REPO / "zones/lab.example.zone"}"')
    text = text.replace(
        'listen = "127.0.0.1:8054"', f'listen = "127.0.0.1:{checker_port or free_port()}"'
    )
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp / "lab.toml"
    path.write_text(text + extra)
    return path, dns_port, admin_port


def start(procs: ProcessGroup, config: Path, dns_port: int, admin_port: int) -> tuple[int, int]:
    """``dnslab authoritative --config`` on ``dns_port`` and ``admin_port``, or on fresh
    ports when one was taken before the server bound it (``lab.procs.on_fresh_ports``; seen:
    "--listen 127.0.0.1:44593: cannot bind ... address already in use"; --listen and --admin
    override the config); returns the ports it serves on (DNS, admin)."""

    def attempt(n: int) -> tuple[int, int]:
        dns, admin = (dns_port, admin_port) if n == 0 else (free_port(), free_port())
        argv = [DNSLAB, "authoritative", "--config", str(config)]
        argv += ["--listen", f"127.0.0.1:{dns}", "--admin", f"127.0.0.1:{admin}"]
        child = procs.start("authoritative", argv)
        try:
            procs.wait_ready(child, udp_dns_ready("127.0.0.1", dns))
        except ProcessError:
            if not child.alive():
                procs.children.remove(child)  # exited; its log stays
            raise
        return dns, admin

    return on_fresh_ports(attempt)


def start_lab(
    procs: ProcessGroup, tmp: Path, extra: str = "", checker_port: int | None = None, **replace: str
) -> tuple[Path, int, int]:
    """write_lab + start (fresh DNS and admin ports if one was taken between picking and
    binding: the admin port returned is the one serving, the config's may be the first)."""
    config, dns_port, admin_port = write_lab(tmp, extra, checker_port, **replace)
    dns_port, admin_port = start(procs, config, dns_port, admin_port)
    return config, dns_port, admin_port


def ask(
    port: int,
    source: str = "127.0.0.1",
    name: str = "www.lab.example.",
    qtype: str = "A",
    ecs: str | None = None,
) -> dns.message.Message:
    options = []
    if ecs is not None:
        addr, prefix = ecs.split("/")
        options.append(dns.edns.ECSOption(addr, int(prefix)))
    q = dns.message.make_query(name, qtype, use_edns=0 if options else None, options=options)
    return dns.query.udp(q, "127.0.0.1", port=port, source=source, timeout=2.0)


def addrs(m: dns.message.Message) -> list[str]:
    return sorted(r.to_text() for rrset in m.answer for r in rrset)


def scope(m: dns.message.Message) -> int | None:
    for opt in m.options:
        if isinstance(opt, dns.edns.ECSOption):
            return int(opt.scopelen)
    return None


def admin(port: int, method: str, path: str, **kw: Any) -> httpx.Response:
    return httpx.request(method, f"http://127.0.0.1:{port}{path}", timeout=5.0, **kw)


def region_status(
    region: str, state: str, next_change_at: float, checker: str = "local"
) -> dict[str, Any]:
    now = time.time()
    return {
        "checker": checker, "region": region, "state": state, "since": now - 100, "reason": "test",
        "rtt_s": 0.001, "next_change_at": next_change_at, "next_change_in_s": next_change_at - now,
        "last_probe_at": now, "last_detail": "200", "probes": 10, "failures": 0, "transitions": 1,
    }  # fmt: skip


class FakeChecker:
    """Serves GET /v1/events like checker ``name``: a snapshot of ``regions``, then the events
    pushed with ``send_state`` (each stamped when written), with heartbeats in between. Like a
    real checker of this user it signs the stream with the per-user default lab secret (the
    session's, tests/conftest.py): a signed ``hello`` first, a ``sig`` on every message over
    the subscriber's nonce (lab.auth.StreamSigner), so the server believes it."""

    def __init__(self, port: int, regions: list[dict[str, Any]], name: str = "local") -> None:
        self.regions = regions
        self.queue: list[tuple[str, str, str]] = []  # (event, id, data) not yet written
        self.sent_at: list[float] = []
        self.cond = threading.Condition()
        self.stop = threading.Event()
        self.seq = 0
        secret = load_secret(None, None)
        assert secret is not None
        key = derive(secret, "checker", name)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                nonce = self.headers.get(NONCE_HEADER) or ""
                signer = StreamSigner(key, nonce)

                def enc(event: str, data: str, id: str | None = None) -> bytes:
                    return sse.encode(event, data, id=id, sig=signer(event, id, data))

                hello = {"checker": name, "boot": "b", "nonce": nonce}
                snap = {
                    "type": "snapshot",
                    "id": "b-0",
                    "seq": 0,
                    "boot": "b",
                    "checker": name,
                    "at": time.time(),
                    "regions": fake.regions,
                }
                try:
                    self.wfile.write(enc("hello", json.dumps(hello)))
                    self.wfile.write(enc("snapshot", json.dumps(snap), "b-0"))
                    self.wfile.flush()
                    while not fake.stop.is_set():
                        with fake.cond:
                            fake.cond.wait(0.3)
                            pending, fake.queue = fake.queue, []
                        for event, id, data in pending:
                            # stamped before the write: the server may act on the event (and
                            # a test see its answers move) before this thread runs again
                            fake.sent_at.append(time.time())
                            self.wfile.write(enc(event, data, id))
                            self.wfile.flush()
                        self.wfile.write(b": hb\n\n")
                        self.wfile.flush()
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def send_state(self, region: str, state: str, previous: str) -> None:
        self.seq += 1
        status = region_status(region, state, time.time() + 60)
        ev = {
            "type": "state",
            "id": f"b-{self.seq}",
            "seq": self.seq,
            "boot": "b",
            "at": time.time(),
            "previous": previous,
            "status": status,
        }
        with self.cond:
            self.queue.append(("state", f"b-{self.seq}", json.dumps(ev)))
            self.cond.notify_all()

    def close(self) -> None:
        self.stop.set()
        with self.cond:
            self.cond.notify_all()
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def fake_checker(
    port: int, regions: list[dict[str, Any]], name: str = "local"
) -> Iterator[FakeChecker]:
    checker = FakeChecker(port, regions, name)
    try:
        yield checker
    finally:
        checker.close()


WWW_A = dns.message.make_query("www.lab.example.", "A").to_wire()


@dataclass
class Load:
    """A steady stream of UDP queries for www.lab.example/A, ``rate`` a second, sent on a
    schedule that does not wait for replies; every reply matched to its query by ID, with
    the wall time its query was sent."""

    port: int
    rate: float
    sent: dict[int, float] = field(default_factory=dict)  # id -> wall time sent
    answers: list[tuple[float, str, int]] = field(default_factory=list)  # (sent, answer, rcode)
    lost: int = 0
    next_id: int = 0
    started: float = 0.0
    slowest: float = 0.0  # seconds from send to reply, the worst seen
    duration: float = 0.0

    async def run(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        load = self

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                qid = struct.unpack("!H", data[:2])[0]
                at = load.sent.pop(qid, None)
                if at is None:
                    return
                load.slowest = max(load.slowest, time.time() - at)
                msg = dns.message.from_wire(data)
                got = ",".join(sorted(r.to_text() for rrset in msg.answer for r in rrset))
                load.answers.append((at, got, msg.rcode()))

        transport, _ = await loop.create_datagram_endpoint(
            Proto, remote_addr=("127.0.0.1", self.port)
        )
        self.started = due = time.monotonic()
        try:
            while not stop.is_set():
                while due <= time.monotonic():  # on schedule: catch up after a slow wake-up
                    qid = self.next_id = (self.next_id + 1) % 65536
                    if qid in self.sent:  # 65536 in flight cannot happen at this rate
                        self.lost += 1
                    self.sent[qid] = time.time()
                    transport.sendto(struct.pack("!H", qid) + WWW_A[2:])
                    due += 1 / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
            self.duration = time.monotonic() - self.started
            await asyncio.sleep(1.1)  # the last replies come in; what did not is lost
            self.lost += len(self.sent)
        finally:
            transport.close()
