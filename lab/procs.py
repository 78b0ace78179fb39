"""Child processes: start, wait until ready, stop — always by PID, never by name.

Used by ``dnslab up``, drills and the integration tests. Every child runs in its own process
group so a stop also reaps anything it spawned; ``ProcessGroup`` stops all of its children in
reverse start order, on normal exit, exceptions and Ctrl-C alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from lab.errors import ProcessError


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    interval: float = 0.01,
    proc: subprocess.Popen[bytes] | None = None,
) -> None:
    """Poll ``condition`` until it is true; raise ``ProcessError`` after ``timeout`` seconds.

    If ``proc`` is given and exits first, fail at once with its exit code.
    """
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise ProcessError(f"{what}: process {proc.pid} exited with code {proc.returncode}")
        if time.monotonic() >= deadline:
            raise ProcessError(f"{what}: not ready after {timeout:.1f}s")
        time.sleep(interval)


async def wait_for_async(
    condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.01
) -> None:
    """``wait_for`` for code running on an event loop: polls without blocking the loop."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            raise ProcessError(f"{what}: not true after {timeout:.1f}s")
        await asyncio.sleep(interval)


def tcp_ready(host: str, port: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return True
        except OSError:
            return False

    return check


def http_ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=0.5) as resp:
                return 200 <= int(resp.status) < 500
        except OSError:
            return False

    return check


def udp_dns_ready(host: str, port: int, zone: str | None = None) -> Callable[[], bool]:
    """True once a DNS server answers on host:port.

    Without ``zone``: any reply (QR set, any rcode) to ``./SOA``. With ``zone``: an
    authoritative NOERROR for ``zone``/SOA, i.e. that zone is loaded. An echo of the query
    from some other socket on the port never counts (QR is clear in it).
    """
    labels = [label.encode() for label in (zone or "").strip(".").split(".") if label]
    qname = b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"
    # header: id 0xabcd, no flags, QDCOUNT 1; question: qname, type SOA (6), class IN
    query = bytes.fromhex("abcd 0000 0001 0000 0000 0000") + qname + bytes.fromhex("0006 0001")
    want = 0x84 if zone is not None else 0x80  # QR (+ AA for a loaded zone)

    def check() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(query, (host, port))
                data, _ = s.recvfrom(65535)
            except OSError:
                return False
        if len(data) < 4 or data[:2] != query[:2] or data[2] & want != want:
            return False
        return zone is None or not data[3] & 0x0F

    return check


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path | None = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Send ``sig`` to this child's process group (a fault injection, or a hard stop)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)

    def stop(self, grace: float = 3.0) -> int | None:
        """SIGTERM, wait up to ``grace`` seconds, then SIGKILL. Returns the exit code."""
        if self.alive():
            self.kill(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.kill(signal.SIGKILL)
                self.proc.wait(timeout=5)
        else:
            # still reap the group in case the leader died and left children behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        return self.proc.returncode

    def log_tail(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Starts children and guarantees they are all stopped when the group exits."""

    log_dir: Path | None = None
    children: list[Child] = field(default_factory=list)

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Child:
        log_path = None
        out: int | object = subprocess.DEVNULL
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}.log"
            out = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,  # type: ignore[arg-type]
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            raise ProcessError(f"{name}: cannot start {argv[0]}: {exc}") from exc
        finally:
            if hasattr(out, "close"):
                out.close()
        child = Child(name, proc, log_path)
        self.children.append(child)
        return child

    def wait_ready(
        self, child: Child, condition: Callable[[], bool], timeout: float = 15.0
    ) -> None:
        try:
            wait_for(condition, timeout, child.name, proc=child.proc)
        except ProcessError as exc:
            tail = child.log_tail()
            raise ProcessError(f"{exc}\n{tail}" if tail else str(exc)) from None

    def stop_all(self) -> None:
        for child in reversed(self.children):
            child.stop()
        self.children.clear()

    def __enter__(self) -> ProcessGroup:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()


_handed_out: set[tuple[str, int]] = set()
PORT_SPAN = 16384  # free_port picks below the kernel's ephemeral range, in a span this wide


def _quiet_ports() -> range | None:
    """Ports below the kernel's ephemeral range (``ip_local_port_range``), which no outgoing
    connection and no ``bind(0)`` of another process takes; None where it cannot be read."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    first = max(1024, low - PORT_SPAN)
    return range(first, low) if low - first >= 1024 else None


def _bindable(host: str, port: int) -> bool:
    """Whether TCP and UDP can bind ``port`` on ``host`` now: False when it is taken; any other
    error (``host`` is no local address, say) is raised, as a bind would raise it."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((host, port))
            except OSError as exc:
                if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                    return False
                raise
    return True


T = TypeVar("T")
PORT_TAKEN = ("cannot bind", "already in use")  # how our servers and Unbound say so


def port_taken(error: str) -> bool:
    """Whether a child's error (or log) says a port it was given was taken."""
    low = error.lower()
    return any(words in low for words in PORT_TAKEN)


def on_fresh_ports(start: Callable[[int], T], attempts: int = 3) -> T:
    """``start(attempt)``, again while it fails (``ProcessError``) because a port was taken:
    a port ``free_port`` picked is not held until the child binds it, and another socket may
    take it meanwhile. ``start`` picks its ports itself, so each attempt has fresh ones. Any
    other error, and the last attempt's, is raised."""
    for attempt in range(attempts):
        try:
            return start(attempt)
        except ProcessError as exc:
            if attempt == attempts - 1 or not port_taken(str(exc)):
                raise
    raise AssertionError("unreachable")


def free_port(host: str = "127.0.0.1") -> int:
    """A port free for both TCP and UDP on ``host`` right now, handed out at most once per
    process.

    Callers often take several ports before binding any (CI once got one port for two
    regions when the kernel's ``bind(0)`` repeated it), and between taking a port and binding
    it another program may take it. So the port is drawn at random from below the kernel's
    ephemeral range (``_quiet_ports``), where no outgoing connection's local port and no
    ``bind(0)`` lands; where that range is unknown, the kernel's ``bind(0)`` picks.
    """
    import random

    quiet = _quiet_ports()
    for _ in range(200):
        if quiet is not None:
            port = random.choice(quiet)
        else:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((host, 0))
                port = int(s.getsockname()[1])
        if (host, port) not in _handed_out and _bindable(host, port):
            _handed_out.add((host, port))
            return port
    raise ProcessError(f"no free port on {host}")
