"""HTTPS probes against an in-test TLS server with a self-signed certificate (openssl)."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from pathlib import Path

import pytest

from healthcheck.probe import Target, probe
from healthcheck.settings import CheckSettings
from tests.conftest import require_tool

pytestmark = pytest.mark.integration


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
