"""A real region process: identity, named faults over HTTP, a real closed listener under 'down'."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from lab.procs import Child, ProcessGroup, free_port, http_ready, wait_for
from tests.conftest import DNSLAB

pytestmark = pytest.mark.integration


def request(
    url: str, payload: dict[str, Any] | None = None, timeout: float = 2.0
) -> tuple[int, Any, dict[str, str]]:
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
            return (
                resp.status,
                json.loads(body) if body[:1] in b"[{" else body.decode(),
                dict(resp.headers),
            )
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return False
    except ConnectionRefusedError:
        return True


def start_region(procs: ProcessGroup, name: str, control: bool = True) -> tuple[Child, int, int]:
    port, cport = free_port(), free_port()
    argv = [DNSLAB, "region", "--name", name, "--listen", f"127.0.0.1:{port}"]
    if control:
        argv += ["--control", f"127.0.0.1:{cport}"]
    child = procs.start(name, argv)
    procs.wait_ready(child, http_ready(f"http://127.0.0.1:{port}/healthz"))
    return child, port, cport


def test_identity_and_validation(procs: ProcessGroup) -> None:
    _, port, _ = start_region(procs, "eu-west", control=False)
    status, body, headers = request(f"http://127.0.0.1:{port}/")
    assert status == 200 and headers["x-region"] == "eu-west"
    assert body["region"] == "eu-west" and body["pid"] > 0 and len(body["instance"]) == 12
    status, body, _ = request(f"http://127.0.0.1:{port}/v1/faults", {"fault": "meltdown"})
    assert status == 422 and body["field"] == "fault" and "flap" in body["error"]
    status, body, _ = request(f"http://127.0.0.1:{port}/v1/faults", {"fault": "slow", "ms": "x"})
    assert status == 422 and body["field"] == "ms"
    status, body, _ = request(f"http://127.0.0.1:{port}/v1/faults", {"fault": "down"})
    assert status == 422 and body["field"] == "duration"  # no control port: no way back


def test_down_really_closes_the_socket_and_comes_back(procs: ProcessGroup) -> None:
    _, port, cport = start_region(procs, "us-east")
    base, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{cport}"
    assert request(f"{base}/v1/faults", {"fault": "down"})[0] == 200
    wait_for(lambda: refused(port), 2, "listener closed")
    # the control port stays up and is never faulted
    assert request(f"{control}/")[1]["faults"] == ["down"]
    assert request(f"{control}/v1/faults", {"fault": "clear"})[0] == 200
    wait_for(http_ready(f"{base}/healthz"), 2, "listener reopened")
    # with a duration the way back is a timer
    t0 = time.monotonic()
    request(f"{base}/v1/faults", {"fault": "down", "duration": 0.5})
    wait_for(lambda: refused(port), 2, "closed again")
    wait_for(http_ready(f"{base}/healthz"), 3, "reopened by the timer")
    assert time.monotonic() - t0 >= 0.45
    text = request(f"{control}/metrics")[1]
    assert 'dnslab_region_fault_active{fault="down",region="us-east"} 0.0' in text


def test_down_cuts_requests_in_flight(procs: ProcessGroup) -> None:
    _, port, cport = start_region(procs, "eu-central")
    request(f"http://127.0.0.1:{cport}/v1/faults", {"fault": "hang"})
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        hung = pool.submit(request, f"http://127.0.0.1:{port}/healthz", None, 10.0)
        wait_for(lambda: active_connections(port) > 0, 3, "request in flight")
        t0 = time.monotonic()
        request(f"http://127.0.0.1:{cport}/v1/faults", {"fault": "down"})
        with pytest.raises(
            (ConnectionError, http.client.RemoteDisconnected, urllib.error.URLError)
        ):
            hung.result(timeout=5)
        assert time.monotonic() - t0 < 2.0  # cut, not timed out


def active_connections(port: int) -> int:
    out = subprocess.run(
        ["ss", "-Htn", "state", "established", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=5,
    ).stdout
    return len(out.splitlines())


def test_hang_slow_error_rate_healthz_only(procs: ProcessGroup) -> None:
    child, port, cport = start_region(procs, "ap-south")
    base, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{cport}"
    request(f"{control}/v1/faults", {"fault": "slow", "ms": 300})
    t0 = time.monotonic()
    assert request(f"{base}/")[0] == 200
    assert time.monotonic() - t0 >= 0.3
    request(f"{control}/v1/faults", {"fault": "hang"})
    with pytest.raises(TimeoutError):
        request(f"{base}/healthz", timeout=0.6)
    assert request(f"{base}/v1/faults")[0] == 200  # the fault API itself never hangs
    request(f"{control}/v1/faults", {"fault": "clear"})
    request(f"{control}/v1/faults", {"fault": "error-rate", "rate": 1.0})
    assert request(f"{base}/")[0] == 503
    request(f"{control}/v1/faults", {"fault": "clear", "name": "error-rate"})
    request(f"{control}/v1/faults", {"fault": "healthz-only"})
    assert request(f"{base}/healthz")[0] == 503 and request(f"{base}/")[0] == 200
    child.kill(signal.SIGTERM)
    assert child.proc.wait(timeout=5) == 0
