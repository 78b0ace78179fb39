"""``dnslab authoritative --workers N``: N processes answering on one address (SO_REUSEPORT).

One Python process answers on one core, so N processes share the UDP and TCP port; the
kernel spreads queries over them by source address and port. The process you started is
worker 0: it forks the others before any event loop runs (the zones it loaded are shared
copy-on-write), answers DNS like them, and alone runs the admin API and the health feeds.

One health view across workers — the parent fans it out: every time worker 0's GeoRuntime
publishes (a feed event, a probe that moved a dynamic TTL, an admin override, a reload), it
writes its ``HealthInputs`` to a pipe per worker, and each worker applies the very same
inputs to its own runtime (same pure code, same wall clock), so every worker answers from
the same view within the time a pipe write takes (bench/workers_fanout.py measures it).
A reload is fanned out as a command: each worker reads the files itself. Workers send their
query counters to worker 0 every second; its ``/metrics`` shows the sum over all workers.
A worker dies with worker 0 (PR_SET_PDEATHSIG); worker 0 stops every worker by PID on
SIGTERM/SIGINT, and stops all and exits 1 if one dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pickle
import signal
import socket
import struct
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from lab.stopping import stop_on_signals

PR_SET_PDEATHSIG = 1
READY_TIMEOUT = 30.0
REPORT_EVERY = 1.0  # seconds between a worker's counter reports to worker 0


def send(fd: int, message: Any) -> None:
    """One length-prefixed pickle on a pipe (blocking; messages are small)."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    data = struct.pack("!I", len(body)) + body
    while data:
        written = os.write(fd, data)
        data = data[written:]


class Reader:
    """Length-prefixed pickles from a non-blocking pipe, delivered on the event loop."""

    def __init__(self, fd: int, deliver: Callable[[Any], None], closed: Callable[[], None]) -> None:
        self.fd, self.deliver, self.closed = fd, deliver, closed
        self.buffer = bytearray()
        os.set_blocking(fd, False)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.add_reader(self.fd, self._readable, loop)

    def _readable(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            loop.remove_reader(self.fd)
            self.closed()
            return
        self.buffer += chunk
        while len(self.buffer) >= 4:
            (size,) = struct.unpack_from("!I", self.buffer)
            if len(self.buffer) < 4 + size:
                break
            body = bytes(self.buffer[4 : 4 + size])
            del self.buffer[: 4 + size]
            self.deliver(pickle.loads(body))


@dataclass
class Worker:
    index: int
    pid: int
    down: int  # worker 0 -> worker: write end
    up: int  # worker -> worker 0: read end
    ready: bool = False
    counters: dict[str, Any] = field(default_factory=dict)  # its last report


@dataclass
class Pool:
    """Worker 0's view of the others."""

    workers: list[Worker] = field(default_factory=list)
    held: list[socket.socket] = field(default_factory=list)  # the port, until worker 0 bound it
    ready_event: asyncio.Event | None = None
    died: asyncio.Event | None = None
    watcher: asyncio.Task[None] | None = None

    def broadcast(self, message: Any) -> None:
        for w in self.workers:
            with contextlib.suppress(OSError):  # a dead worker is reported by watch()
                send(w.down, message)

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Once worker 0 has bound the port: let go of the reservation, read the workers."""
        for s in self.held:
            s.close()
        self.held.clear()
        self.ready_event, self.died = asyncio.Event(), asyncio.Event()
        for w in self.workers:
            Reader(w.up, self._deliverer(w), lambda: None).attach(loop)

    def _deliverer(self, w: Worker) -> Callable[[Any], None]:
        return lambda message: self._deliver(w, message)

    def _deliver(self, w: Worker, message: Any) -> None:
        kind = message[0]
        if kind == "ready":
            w.ready = True
            if all(x.ready for x in self.workers) and self.ready_event is not None:
                self.ready_event.set()
        elif kind == "counters":
            w.counters = message[1]

    async def serving(self, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
        """Worker 0 has bound the port: wait for the others, then watch them until ``stop``."""
        self.attach(loop)
        await self.wait_ready()
        self.watcher = asyncio.create_task(self.watch(stop))

    def finish(self) -> None:
        """Worker 0 is stopping: stop the others; exit 1 if one of them had died."""
        if self.watcher is not None:
            self.watcher.cancel()
        self.stop()
        if self.died is not None and self.died.is_set():
            raise SystemExit(1)

    async def wait_ready(self) -> None:
        assert self.ready_event is not None
        if not self.workers:
            return
        try:
            await asyncio.wait_for(self.ready_event.wait(), READY_TIMEOUT)
        except TimeoutError:
            raise SystemExit(
                f"dnslab authoritative: workers not ready after {READY_TIMEOUT:.0f}s"
            ) from None

    async def watch(self, stop: asyncio.Event) -> None:
        """Stop everything when a worker dies (it cannot be answering any more)."""
        while not stop.is_set():
            for w in self.workers:
                pid, status = os.waitpid(w.pid, os.WNOHANG)
                if pid:
                    code = os.waitstatus_to_exitcode(status)
                    print(
                        f"dnslab authoritative: worker {w.index} (pid {w.pid}) exited {code}; "
                        "stopping the others",
                        file=sys.stderr,
                        flush=True,
                    )
                    w.pid = 0
                    assert self.died is not None
                    self.died.set()
                    stop.set()
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM every live worker by PID, wait, then SIGKILL."""
        live = [w for w in self.workers if w.pid]
        for w in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for w in live:
            while time.monotonic() < deadline:
                pid, _ = os.waitpid(w.pid, os.WNOHANG)
                if pid:
                    break
                time.sleep(0.02)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(w.pid, signal.SIGKILL)
                os.waitpid(w.pid, 0)
            w.pid = 0

    def summed(self, kind: str) -> Iterator[tuple[Any, int]]:
        for w in self.workers:
            yield from w.counters.get(kind, {}).items()


def reserve_port(host: str, port: int) -> tuple[int, list[socket.socket]]:
    """A port all workers can share: ``port`` itself, or one the kernel picks (for 0), held
    until worker 0 has bound its own. Only a TCP socket holds it: a bound TCP socket that
    does not listen gets no connections, while a UDP socket in the SO_REUSEPORT group would
    be handed its share of the queries and answer none."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
    except OSError:
        s.close()
        raise
    return int(s.getsockname()[1]), [s]


def fork_workers(n: int, child: Callable[[int, int, int], int]) -> Pool:
    """Fork workers 1..n-1; each runs ``child(index, down_read_fd, up_write_fd)`` and exits
    with its return value. Call before any event loop or thread exists."""
    pool = Pool()
    for index in range(1, n):
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(down_w)
                os.close(up_r)
                for w in pool.workers:  # the pipes of its elder siblings are not its own
                    os.close(w.down)
                    os.close(w.up)
                _die_with_parent()
                code = child(index, down_r, up_w)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:
                print(f"dnslab authoritative: worker {index}: {exc}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        os.close(down_r)
        os.close(up_w)
        pool.workers.append(Worker(index, pid, down_w, up_r))
    return pool


def _die_with_parent() -> None:
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM))
    if os.getppid() != parent:
        os._exit(1)


def counters_of(metrics: Any, tally: Any = None) -> dict[str, Any]:
    """A worker's counters to report: the engine's query metrics and the geo answer tally."""
    out: dict[str, Any] = {
        "queries": dict(metrics.queries),
        "plain": {
            "cache_hits": metrics.cache_hits,
            "cache_misses": metrics.cache_misses,
            "handler_errors": metrics.handler_errors,
            "dropped": metrics.dropped,
            "udp_send_dropped": metrics.udp_send_dropped,
        },
    }
    if tally is not None:
        out["answers"] = dict(tally.counts)
    return out


async def report_counters(fd: int, read: Callable[[], dict[str, Any]]) -> None:
    while True:
        await asyncio.sleep(REPORT_EVERY)
        with contextlib.suppress(OSError):
            send(fd, ("counters", read()))


class WorkerSums:
    """Makes worker 0's Metrics and geo answer tally include the other workers' last reports."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool

    def queries(self) -> dict[Any, int]:
        out: defaultdict[Any, int] = defaultdict(int)
        for key, n in self.pool.summed("queries"):
            out[key] += n
        return out

    def plain(self, name: str) -> int:
        return sum(w.counters.get("plain", {}).get(name, 0) for w in self.pool.workers)

    def answers(self) -> dict[Any, int]:
        out: defaultdict[Any, int] = defaultdict(int)
        for key, n in self.pool.summed("answers"):
            out[key] += n
        return out


async def follow_static(server: Any, host: str, port: int, down: int, up: int) -> None:
    """A worker of a server without GeoDNS: answer until SIGTERM or worker 0 is gone."""
    loop = asyncio.get_running_loop()
    stop = stop_on_signals("dnslab authoritative worker")
    await server.start(host, port, reuse_port=True)
    Reader(down, lambda message: None, stop.set).attach(loop)
    send(up, ("ready",))
    report = asyncio.create_task(report_counters(up, lambda: counters_of(server.engine.metrics)))
    await stop.wait()
    report.cancel()
    await server.stop()


async def follow_geo(
    server: Any, host: str, port: int, args: Any, registry: Any, base: Any, down: int, up: int
) -> None:
    """A GeoDNS worker: its own runtime over the same config, fed worker 0's health inputs."""
    from authoritative.geo import geomap_from_config
    from authoritative.geo_runtime import GeoRuntime
    from authoritative.geo_zones import GeoSetup

    setup = GeoSetup(args, base)
    cfg, state = setup.load()
    runtime = GeoRuntime(cfg, state, server.swap, registry)
    loop = asyncio.get_running_loop()
    stop = stop_on_signals("dnslab authoritative worker")

    def deliver(message: Any) -> None:
        if message[0] == "inputs":  # worker 0's health inputs: the same view here
            runtime.inputs = message[1]
            runtime.publish()
        elif message[0] == "reload":
            try:
                new_cfg, new_state = setup.load()
                runtime.load(new_cfg, new_state, geomap_from_config(new_cfg))
            except Exception as exc:
                print(f"dnslab authoritative: worker reload failed: {exc}", file=sys.stderr)

    await server.start(host, port, reuse_port=True)
    Reader(down, deliver, stop.set).attach(loop)
    send(up, ("ready",))
    tally = runtime.metrics.answers
    report = asyncio.create_task(
        report_counters(up, lambda: counters_of(server.engine.metrics, tally))
    )
    await stop.wait()
    report.cancel()
    await server.stop()
