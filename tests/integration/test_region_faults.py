"""A real region process: identity, named faults over HTTP on the control port (with its token),
a real closed listener under 'down', and the truth when it cannot reopen (issue 13 finding 6)."""

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
from pathlib import Path
from typing import Any

import pytest

from lab.auth import control_token, generate_secret, load_secret, read_secret
from lab.procs import Child, ProcessGroup, free_port, http_ready, wait_for
from tests.conftest import DNSLAB

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TOKENS: dict[int, str] = {}  # control port -> the region's bearer token


def request(
    url: str, payload: dict[str, Any] | None = None, timeout: float = 2.0, token: str | None = None
) -> tuple[int, Any, dict[str, str]]:
    data = None if payload is None else json.dumps(payload).encode()
    if token is None and data is not None:
        token = next((t for p, t in TOKENS.items() if f":{p}/" in url), None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET", headers=headers)
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


def start_region(
    procs: ProcessGroup, name: str, control: bool = True, secret: Path | None = None
) -> tuple[Child, int, int]:
    port, cport = free_port(), free_port()
    argv = [DNSLAB, "region", "--name", name, "--listen", f"127.0.0.1:{port}"]
    if control:
        argv += ["--control", f"127.0.0.1:{cport}"]
    if secret is not None:
        argv += ["--secret-file", str(secret)]
        TOKENS[cport] = control_token(read_secret(secret), name)
    else:  # no --secret-file: the region uses the per-user default (the session's)
        default = load_secret(None, None)
        assert default is not None
        TOKENS[cport] = control_token(default, name)
    child = procs.start(name, argv)
    procs.wait_ready(child, http_ready(f"http://127.0.0.1:{port}/healthz"))
    return child, port, cport


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    return generate_secret(tmp_path / "secret")


def test_identity_and_validation(procs: ProcessGroup, secret: Path) -> None:
    _, port, cport = start_region(procs, "eu-west", secret=secret)
    status, body, headers = request(f"http://127.0.0.1:{port}/")
    assert status == 200 and headers["x-region"] == "eu-west"
    assert body["region"] == "eu-west" and body["pid"] > 0 and len(body["instance"]) == 12
    control = f"http://127.0.0.1:{cport}/v1/faults"
    status, body, _ = request(control, {"fault": "meltdown"})
    assert status == 422 and body["field"] == "fault" and "flap" in body["error"]
    status, body, _ = request(control, {"fault": "slow", "ms": "x"})
    assert status == 422 and body["field"] == "ms"


def test_fault_api_is_control_port_only_and_needs_the_token(
    procs: ProcessGroup, secret: Path
) -> None:
    """Finding 6: the fault API needed no auth, even on the service port."""
    _, port, cport = start_region(procs, "eu-north", secret=secret)
    status, body, _ = request(f"http://127.0.0.1:{port}/v1/faults", {"fault": "down"}, token="x")
    assert status == 404 and "control port only" in body["error"]
    status, body, headers = request(
        f"http://127.0.0.1:{cport}/v1/faults", {"fault": "down"}, token="nope"
    )
    assert status == 401 and headers["www-authenticate"].startswith("Bearer")
    assert request(f"http://127.0.0.1:{port}/healthz")[0] == 200  # nothing happened
    assert request(f"http://127.0.0.1:{cport}/v1/faults")[1]["faults"] == {}


def test_reopen_that_fails_is_reported_and_retried(procs: ProcessGroup, secret: Path) -> None:
    """Finding 6: if the reopen after 'down' fails, the API said 200 with no faults and never
    retried. Now: 503 with the bind error, listening.open false, and a retry that succeeds
    once the squatter leaves."""
    _, port, cport = start_region(procs, "eu-south", secret=secret)
    control = f"http://127.0.0.1:{cport}"
    assert request(f"{control}/v1/faults", {"fault": "down"})[0] == 200
    wait_for(lambda: refused(port), 2, "listener closed")
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT
    squatter.bind(("127.0.0.1", port))  # listening: the region's bind must fail
    squatter.listen(8)
    try:
        status, body, _ = request(f"{control}/v1/faults", {"fault": "clear"})
        assert status == 503, body
        assert body["listening"]["open"] is False and body["listening"]["wanted"] is True
        assert "cannot bind" in body["listening"]["error"] and "retrying" in body["error"]
        doc = request(f"{control}/")[1]
        assert doc["listening"]["open"] is False and doc["faults"] == []
        attempts = doc["listening"]["reopen_attempts"]
        wait_for(
            lambda: request(f"{control}/v1/faults")[1]["listening"]["reopen_attempts"] > attempts,
            3,
            "the region retries the bind",
        )
    finally:
        squatter.close()
    wait_for(
        lambda: request(f"{control}/v1/faults")[1]["listening"]["open"] is True,
        3,
        "reopened after the squatter left",
    )
    assert request(f"http://127.0.0.1:{port}/healthz")[0] == 200


def test_down_really_closes_the_socket_and_comes_back(procs: ProcessGroup, secret: Path) -> None:
    _, port, cport = start_region(procs, "us-east", secret=secret)
    base, control = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{cport}"
    assert request(f"{control}/v1/faults", {"fault": "down"})[0] == 200
    wait_for(lambda: refused(port), 2, "listener closed")
    # the control port stays up and is never faulted
    assert request(f"{control}/")[1]["faults"] == ["down"]
    assert request(f"{control}/v1/faults", {"fault": "clear"})[0] == 200
    wait_for(http_ready(f"{base}/healthz"), 2, "listener reopened")
    # with a duration the way back is a timer
    t0 = time.monotonic()
    request(f"{control}/v1/faults", {"fault": "down", "duration": 0.5})
    wait_for(lambda: refused(port), 2, "closed again")
    wait_for(http_ready(f"{base}/healthz"), 3, "reopened by the timer")
    assert time.monotonic() - t0 >= 0.45
    text = request(f"{control}/metrics")[1]
    assert 'dnslab_region_fault_active{fault="down",region="us-east"} 0.0' in text


def test_down_cuts_requests_in_flight(procs: ProcessGroup) -> None:
    _, port, cport = start_region(procs, "eu-central")  # no --secret-file: the default's token
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
    assert request(f"{control}/v1/faults")[0] == 200  # the fault API itself never hangs
    request(f"{control}/v1/faults", {"fault": "clear"})
    request(f"{control}/v1/faults", {"fault": "error-rate", "rate": 1.0})
    assert request(f"{base}/")[0] == 503
    request(f"{control}/v1/faults", {"fault": "clear", "name": "error-rate"})
    request(f"{control}/v1/faults", {"fault": "healthz-only"})
    assert request(f"{base}/healthz")[0] == 503 and request(f"{base}/")[0] == 200
    child.kill(signal.SIGTERM)
    assert child.proc.wait(timeout=5) == 0
