"""A whole lab as `dnslab up` starts it (lab.up.plan_lab + prepare_control: a secret, a
health-state file), on free ports, with fast checks — for the control-plane tests (issue 13)."""

from __future__ import annotations

import re
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.message
import dns.query

from lab.config import load_config
from lab.procs import free_port, on_fresh_ports, wait_for
from lab.up import Lab, plan_lab, prepare_control
from tests.conftest import REPO

REGIONS = {"us-east": "127.0.1.1", "eu-west": "127.0.2.1", "ap-south": "127.0.3.1"}
EU_CLIENT, NA_CLIENT = "127.2.0.10", "127.1.0.10"
INTERVAL, FALL, RISE = 0.2, 2, 2


def lab_toml(tmp: Path, extra_auth: str = "", control: str = "") -> Path:
    ports = {r: free_port(a) for r, a in REGIONS.items()}
    regions = "".join(
        f'[regions.{r}]\nlisten = "{a}:{ports[r]}"\nv4 = ["{a}"]\n\n' for r, a in REGIONS.items()
    )
    text = f"""
[authoritative]
listen = "127.0.0.1:{free_port()}"
admin_listen = "127.0.0.1:{free_port()}"
token = "t0ken"
{extra_auth}

[authoritative.zones]
"lab.example." = "{REPO / "zones/lab.example.zone"}"

[control]
{control}

[[checkers]]
name = "local"
listen = "127.0.0.1:{free_port()}"

[checks]
interval = {INTERVAL}
fall = {FALL}
rise = {RISE}
heartbeat = 0.2

[resolver]
listen = "127.0.0.1:{free_port()}"
metrics_listen = "127.0.0.1:{free_port()}"

{regions}
[locations]
na = ["127.1.0.0/16"]
eu = ["127.2.0.0/16"]
ap = ["127.3.0.0/16"]

[services.www]
name = "www.lab.example."
ttl = 1

[services.www.order]
na = ["us-east", "eu-west", "ap-south"]
eu = ["eu-west", "us-east", "ap-south"]
ap = ["ap-south", "eu-west", "us-east"]
default = ["us-east", "eu-west", "ap-south"]
"""
    path = tmp / "lab.toml"
    path.write_text(text)
    return path


def start_lab(tmp: Path, extra_auth: str = "", control: str = "") -> tuple[Lab, Any]:
    """The lab of ``lab_toml``, started like `dnslab up` does it; the caller stops it.

    Its eight ports come from ``free_port``, which does not hold them until the children
    bind; when another socket took one meanwhile (that child exits: "cannot bind" / "already
    in use"; Lab.start stops the rest) the lab starts again on fresh ports
    (``lab.procs.on_fresh_ports``)."""

    def attempt(_: int) -> tuple[Lab, Any]:
        path = lab_toml(tmp, extra_auth, control)
        cfg = load_config(path)
        files = prepare_control(cfg, tmp / "state")
        lab = Lab(plan_lab(cfg, path, control_port=free_port, files=files), tmp / "logs")
        lab.start()
        return lab, cfg

    return on_fresh_ports(attempt)


def hp(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def ask(cfg: Any, source: str, timeout: float = 2.0) -> list[str] | None:
    """The A records of www for a client at ``source``; None on timeout or no answer."""
    host, port = hp(cfg.authoritative.listen)
    q = dns.message.make_query("www.lab.example.", "A")
    try:
        r = dns.query.udp(q, host, port=port, source=source, timeout=timeout)
    except (dns.exception.Timeout, OSError):
        return None
    return sorted(rr.to_text() for rrset in r.answer for rr in rrset)


@dataclass
class Poller:
    """Asks every ``period`` seconds from ``source`` in a thread; keeps every answer."""

    cfg: Any
    source: str
    period: float = 0.02
    answers: list[tuple[float, list[str] | None]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Poller:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            t = time.monotonic()
            self.answers.append((t, ask(self.cfg, self.source, timeout=self.period * 2)))
            self._stop.wait(max(0.0, self.period - (time.monotonic() - t)))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def wait_more(self, k: int, timeout: float = 10.0) -> None:
        """Until ``k`` more polls (answered or not) are in."""
        n = len(self.answers)
        wait_for(lambda: len(self.answers) >= n + k, timeout, f"{k} more polls")

    def answered(self) -> list[list[str]]:
        return [a for _, a in self.answers if a is not None]


def metrics(cfg: Any) -> str:
    url = f"http://{cfg.authoritative.admin_listen}/metrics"
    with urllib.request.urlopen(url, timeout=2) as resp:
        return str(resp.read().decode())


def metric(cfg: Any, name: str, **labels: str) -> float | None:
    """One sample of the authoritative server's /metrics, or None if it is not exported."""
    try:
        text = metrics(cfg)
    except OSError:
        return None
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        m = re.match(rf"^{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if m and ",".join(sorted((m.group(1) or "").split(","))) == want:
            return float(m.group(2))
    return None


def admin_json(cfg: Any, path: str) -> Any:
    import json

    with urllib.request.urlopen(f"http://{cfg.authoritative.admin_listen}{path}", timeout=2) as r:
        return json.loads(r.read())


def checker_state(cfg: Any, region: str) -> dict[str, Any] | None:
    import json

    try:
        url = f"http://{cfg.checkers[0].listen}/v1/status"
        with urllib.request.urlopen(url, timeout=1) as resp:
            doc = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    return next((r for r in doc["regions"] if r["region"] == region), None)


def wait_answer(cfg: Any, source: str, want: list[str], timeout: float, what: str) -> None:
    wait_for(lambda: ask(cfg, source, 0.5) == want, timeout, what, interval=0.02)


def unsigned_all_up(checker: str = "local") -> bytes:
    """What a fake checker without the lab secret can serve: an unsigned SSE snapshot saying
    every region is up (then a heartbeat)."""
    import json

    now = time.time()
    regions = [
        {"checker": checker, "region": r, "state": "up", "since": now - 100, "reason": "x",
         "rtt_s": 0.001, "next_change_at": None, "next_change_in_s": None,
         "last_probe_at": now, "last_detail": "ok", "probes": 9, "failures": 0,
         "transitions": 1}
        for r in REGIONS
    ]  # fmt: skip
    snap = {"type": "snapshot", "id": "f-0", "seq": 0, "boot": "f", "checker": checker,
            "at": now, "regions": regions}  # fmt: skip
    return f"event: snapshot\nid: f-0\ndata: {json.dumps(snap)}\n\n: hb\n\n".encode()


class Squatter:
    """An HTTP server on a freed address that answers every request ``200 {"status": "ok"}``
    (with whatever SSE ``body`` is given for /v1/events) — a fake region or checker."""

    def __init__(self, host: str, port: int, sse: bytes = b"") -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.sse = sse
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2)
            try:
                head = conn.recv(65536)
            except OSError:
                return
            self.requests += 1
            if b"/v1/events" in head.split(b"\r\n", 1)[0]:
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                    b"Cache-Control: no-cache\r\n\r\n" + self.sse
                )
                self._stop.wait(1.0)  # then hang up; the server reconnects
                return
            body = b'{"region":"eu-west","status":"ok"}'
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        self._thread.join(2)
