"""HTTPS probes with a self-signed certificate (openssl): an in-test TLS server, and a real
region serving HTTPS checked by a verifying and a non-verifying checker."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from healthcheck.probe import Target, probe
from healthcheck.settings import CheckSettings
from lab.procs import ProcessGroup, free_port, tcp_ready, wait_for
from tests.conftest import DNSLAB, fault_auth, require_tool

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    openssl = require_tool("openssl")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_https_probe_verifies_certificates(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nall-good!"
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass  # the verifying client hangs up during the handshake
        finally:
            writer.close()

    async def go() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
        port = server.sockets[0].getsockname()[1]
        target = Target("tls", "https", "127.0.0.1", port, "/healthz")
        async with server:
            strict = await probe(target, CheckSettings(interval=2.0, body_match="good"))
            assert not strict.ok and strict.detail.startswith("tls error"), strict
            insecure = await probe(
                target, CheckSettings(interval=2.0, verify_tls=False, body_match="good")
            )
            assert insecure.ok and insecure.detail == "status 200, body matched", insecure
            trusted = ssl.create_default_context(cafile=str(cert))
            ok = await probe(target, CheckSettings(interval=2.0), ssl_ctx=trusted)
            assert ok.ok and ok.rtt is not None and ok.rtt < 1.0, ok

    asyncio.run(go())


def test_https_region_checked_by_two_checkers(procs: ProcessGroup, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port, control = free_port(), free_port()
    argv = [DNSLAB, "region", "--name", "secure", "--listen", f"127.0.0.1:{port}"]
    argv += ["--control", f"127.0.0.1:{control}", "--tls-cert", str(cert), "--tls-key", str(key)]
    region = procs.start("secure", argv)
    procs.wait_ready(region, tcp_ready("127.0.0.1", port))
    target = f"secure=https://127.0.0.1:{port}/healthz"
    ports = {}
    for name, extra in (("lax", ["--insecure"]), ("strict", [])):
        ports[name] = free_port()
        check = [DNSLAB, "healthcheck", "--name", name, "--listen", f"127.0.0.1:{ports[name]}"]
        child = procs.start(name, [*check, "--target", target, "--interval", "0.3", *extra])
        procs.wait_ready(child, tcp_ready("127.0.0.1", ports[name]))

    def region_status(name: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{ports[name]}/v1/status", timeout=2) as r:
            return json.loads(r.read())["regions"][0]  # type: ignore[no-any-return]

    wait_for(lambda: region_status("lax")["state"] == "up", 5, "lax checker: up")
    wait_for(lambda: region_status("strict")["state"] == "down", 5, "strict checker: down")
    assert region_status("strict")["last_detail"].startswith("tls error")
    # 'down' closes the TLS listener; when it reopens it still speaks TLS
    body = json.dumps({"fault": "down", "duration": 0.6}).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{control}/v1/faults", body, fault_auth("secure"), method="POST"
    )
    urllib.request.urlopen(req, timeout=2).close()
    # a refused probe is counted for good: polling last_detail had to catch it between two
    # probes inside the 0.6 s window, which a loaded machine's late probe or poll can miss
    wait_for(lambda: refused_probes(ports["lax"]) > 0, 5, "a probe refused while down")
    wait_for(lambda: region_status("lax")["last_detail"] == "status 200, proof ok", 5, "TLS again")


def refused_probes(port: int) -> float:
    """The checker's count of refused probes (dnslab_healthcheck_probe_results_total)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
        text = r.read().decode()
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "dnslab_healthcheck_probe_results_total" and s.labels["outcome"] == "refused"
    )
