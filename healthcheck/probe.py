"""Probes (shell): one HTTP(S) request or TCP connect per call, a fresh connection each time.

HTTP(S): ``GET path`` with ``Connection: close``; success means the expected status and, if
``body_match`` is set, that substring within the first 5120 bytes of the body (Route 53's rule).
TCP: success means the connection was accepted. The whole probe (connect, TLS, request,
response) is bounded by the timeout; ``rtt`` is connect-to-status-line (or connect) time.

A target with a ``key`` (the lab has a secret, ``checks.proof`` is on) must also prove who it
is: the probe sends a fresh ``X-Dnslab-Challenge`` and success needs the region's
``X-Dnslab-Proof`` = ``lab.auth.sign(key, "healthz", challenge)``, so whatever squats on a
region's freed port is not taken for the region (docs/security.md). TCP probes cannot prove
anything and are not squatter-proof.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from healthcheck.settings import CheckSettings
from healthcheck.state import ProbeResult
from lab.auth import CHALLENGE_HEADER, PROOF_HEADER, new_nonce, verify
from lab.errors import ConfigError

BODY_LIMIT = 5120


@dataclass(frozen=True)
class Target:
    region: str
    kind: str  # http | https | tcp
    host: str
    port: int
    path: str = "/healthz"
    key: bytes | None = field(default=None, repr=False)  # region's key: require its proof

    @property
    def url(self) -> str:
        suffix = "" if self.kind == "tcp" else self.path
        return f"{self.kind}://{self.host}:{self.port}{suffix}"


def parse_target(spec: str, settings: CheckSettings, where: str = "--target") -> Target:
    """``NAME=URL`` where URL is http://h:p/path, https://h:p/path, tcp://h:p or plain h:p."""
    name, sep, url = spec.partition("=")
    if not sep or not name or not url:
        raise ConfigError(
            f"{where}: expected NAME=URL such as eu-west=http://127.0.2.1:8080/healthz"
        )
    return target_from_url(name, url, settings, where)


def target_from_url(name: str, url: str, settings: CheckSettings, where: str) -> Target:
    if "://" not in url:
        url = f"{settings.kind}://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "tcp"):
        raise ConfigError(f"{where}: {name}: scheme must be http, https or tcp, got {url!r}")
    try:
        port = parts.port
        bad_port = False
    except ValueError:
        port, bad_port = None, True
    if not parts.hostname or bad_port or (port is None and parts.scheme == "tcp"):
        raise ConfigError(
            f"{where}: {name}: {url!r} needs a host and port, e.g. tcp://127.0.2.1:8080"
        )
    default_port = 443 if parts.scheme == "https" else 80
    path = parts.path or settings.path
    if parts.query:
        path += "?" + parts.query
    return Target(name, parts.scheme, parts.hostname, port or default_port, path)


def tls_context(verify: bool) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, ssl.SSLError):
        return f"tls error: {exc.reason or exc}"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "connection closed before the response"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


async def _http(
    t: Target, settings: CheckSettings, ssl_ctx: ssl.SSLContext | None, mono: Callable[[], float]
) -> tuple[bool, str, float]:
    start = mono()
    reader, writer = await asyncio.open_connection(
        t.host, t.port, ssl=ssl_ctx, server_hostname=t.host if ssl_ctx else None
    )
    challenge = new_nonce() if t.key is not None else None
    try:
        extra = f"{CHALLENGE_HEADER}: {challenge}\r\n" if challenge else ""
        req = (
            f"GET {t.path} HTTP/1.1\r\nHost: {t.host}:{t.port}\r\n"
            f"User-Agent: dnslab-healthcheck\r\n{extra}Connection: close\r\n\r\n"
        )
        writer.write(req.encode())
        await writer.drain()
        status_line = await reader.readuntil(b"\r\n")
        rtt = mono() - start
        parts = status_line.decode("latin-1").split(" ", 2)
        if len(parts) < 2 or not parts[1].isdigit():
            return False, f"bad status line {status_line[:40]!r}", rtt
        status = int(parts[1])
        if status != settings.expect_status:
            return False, f"status {status} (expected {settings.expect_status})", rtt
        head = b""
        if t.key is not None or settings.body_match is not None:
            head = await reader.readuntil(b"\r\n\r\n")
        if t.key is not None and challenge is not None:
            proof = _header(head, PROOF_HEADER)
            if not verify(t.key, proof, "healthz", challenge):
                why = "no proof" if proof is None else "wrong proof"
                return (
                    False,
                    f"status {status} but {why} of being {t.region} (not the region?)",
                    rtt,
                )
        if settings.body_match is None:
            return True, f"status {status}" + (", proof ok" if t.key else ""), rtt
        body = await reader.read(BODY_LIMIT)
        while len(body) < BODY_LIMIT:
            more = await reader.read(BODY_LIMIT - len(body))
            if not more:
                break
            body += more
        if settings.body_match.encode() in body:
            return True, f"status {status}, body matched", rtt
        return False, f"status {status}, body does not contain {settings.body_match!r}", rtt
    finally:
        writer.close()


def _header(head: bytes, name: str) -> str | None:
    want = name.lower().encode()
    for line in head.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == want:
            return value.strip().decode("latin-1")
    return None


async def _tcp(t: Target, mono: Callable[[], float]) -> tuple[bool, str, float]:
    start = mono()
    _, writer = await asyncio.open_connection(t.host, t.port)
    rtt = mono() - start
    writer.close()
    return True, "tcp connect ok", rtt


async def probe(
    t: Target,
    settings: CheckSettings,
    ssl_ctx: ssl.SSLContext | None = None,
    mono: Callable[[], float] = time.monotonic,
) -> ProbeResult:
    """Run one probe within ``settings.effective_timeout``; never raises for target failures."""
    timeout = settings.effective_timeout
    started = mono()
    try:
        async with asyncio.timeout(timeout):
            if t.kind == "tcp":
                ok, detail, rtt = await _tcp(t, mono)
            else:
                ctx = ssl_ctx if t.kind == "https" else None
                if t.kind == "https" and ctx is None:
                    ctx = tls_context(settings.verify_tls)
                ok, detail, rtt = await _http(t, settings, ctx, mono)
    except TimeoutError:
        return ProbeResult(False, started, mono(), f"timeout after {timeout:.2f}s", None)
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ssl.SSLError) as exc:
        return ProbeResult(False, started, mono(), _describe(exc), None)
    except Exception as exc:  # a bug or odd input must fail the probe, not kill its loop
        return ProbeResult(
            False, started, mono(), f"probe error: {type(exc).__name__}: {exc}", None
        )
    return ProbeResult(ok, started, mono(), detail, rtt)
