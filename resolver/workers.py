"""``num-threads`` / ``--workers N``: N resolver processes sharing one address (SO_REUSEPORT).

Unbound runs N threads over one cache; dnslab runs N processes, each with its own cache (a
Python thread cannot answer in parallel with another). The kernel spreads clients over the
workers by their source address and port, so one client mostly meets one worker's cache; a
name cached by one worker is a miss on the next until that worker fetched it too. Workers
are started with the same settings (``num-threads = 1``, passed as JSON in the environment);
each binds the listen address with SO_REUSEPORT and serves its own metrics on a free loopback
port. The parent (the process you started) does not answer DNS: it serves ``/metrics`` on
``metrics-listen`` as the *sum* over its workers (counters, gauges, histogram buckets), stops
every worker by PID on SIGTERM/SIGINT, and exits non-zero if a worker dies. A worker exits
when its parent is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from lab.errors import ConfigError
from resolver.settings import ResolverSettings, split_host_port

SETTINGS_ENV = "DNSLAB_RESOLVER_WORKER_SETTINGS"
READY_TIMEOUT = 30.0


@dataclass
class Worker:
    index: int
    proc: subprocess.Popen[str]
    metrics: str = ""  # HOST:PORT of its own /metrics, once ready


def start_workers(settings: ResolverSettings) -> list[Worker]:
    """Start ``num-threads`` workers and wait for each one's ``ready`` line."""
    one = settings.model_copy(update={"num_threads": 1})
    env = dict(os.environ, **{SETTINGS_ENV: one.model_dump_json(by_alias=True)})
    argv = [sys.executable, "-m", "resolver.workers"]
    workers = []
    try:
        for i in range(settings.num_threads):
            proc = subprocess.Popen(
                [*argv, str(i)], stdout=subprocess.PIPE, text=True, env=env, bufsize=1
            )
            workers.append(Worker(i, proc))
        deadline = time.monotonic() + READY_TIMEOUT
        for w in workers:
            w.metrics = _ready_line(w, deadline)
    except BaseException:
        stop_workers(workers)
        raise
    return workers


def _ready_line(w: Worker, deadline: float) -> str:
    assert w.proc.stdout is not None
    lines: list[str] = []

    def read() -> None:
        assert w.proc.stdout is not None
        for line in w.proc.stdout:
            lines.append(line)
            if line.startswith("ready worker"):
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(max(0.0, deadline - time.monotonic()))
    if not lines or not lines[-1].startswith("ready worker"):
        code = w.proc.poll()
        why = f"exited {code}" if code is not None else f"not ready after {READY_TIMEOUT:.0f}s"
        raise ConfigError(f"resolver worker {w.index} {why} (its error is above)")
    return lines[-1].split()[-1]


def stop_workers(workers: list[Worker], grace: float = 3.0) -> None:
    for w in workers:
        if w.proc.poll() is None:
            w.proc.terminate()
    deadline = time.monotonic() + grace
    for w in workers:
        try:
            w.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            w.proc.kill()
            w.proc.wait(5)
        if w.proc.stdout is not None:
            w.proc.stdout.close()


class SummedMetrics(Collector):
    """Every worker's /metrics, summed sample by sample (``*_created`` left out)."""

    def __init__(self, workers: list[Worker]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        values: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
        for w in self.workers:
            try:
                with urllib.request.urlopen(f"http://{w.metrics}/metrics", timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                continue  # a worker that just died: the supervisor reports it
            for family in text_string_to_metric_families(text):
                if family.name.endswith("_created"):
                    continue  # per-process creation times: no meaning summed
                families.setdefault(family.name, family)
                summed = values.setdefault(family.name, {})
                for sample in family.samples:
                    key = (sample.name, tuple(sorted(sample.labels.items())))
                    if not sample.name.endswith("_created"):
                        summed[key] = summed.get(key, 0.0) + sample.value
        for name, family in families.items():
            out = Metric(name, family.documentation, family.type)
            for (sample_name, labels), value in values[name].items():
                out.add_sample(sample_name, dict(labels), value)
            yield out


async def supervise(settings: ResolverSettings, summary: str) -> int:
    """The parent of ``num-threads`` workers: summed /metrics, stop on signal or on a death."""
    from lab.stopping import stop_on_signals
    from resolver.service import metrics_server

    workers = await asyncio.to_thread(start_workers, settings)
    registry = CollectorRegistry()
    registry.register(SummedMetrics(workers))
    try:
        http, thread = metrics_server(settings.metrics_listen, registry)
    except ConfigError:
        stop_workers(workers)
        raise
    stop = stop_on_signals("dnslab resolver worker")
    print(summary, file=sys.stderr, flush=True)
    pids = " ".join(str(w.proc.pid) for w in workers)
    print(
        f"ready resolver {settings.listen} metrics {settings.metrics_listen} "
        f"workers {len(workers)} (pids {pids})",
        flush=True,
    )
    code = 0
    try:
        while not stop.is_set():
            dead = [w for w in workers if w.proc.poll() is not None]
            if dead:
                w = dead[0]
                print(
                    f"dnslab resolver: worker {w.index} (pid {w.proc.pid}) exited "
                    f"{w.proc.returncode}; stopping the others",
                    file=sys.stderr,
                    flush=True,
                )
                code = 1
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
    finally:
        stop_workers(workers)
        http.shutdown()
        http.server_close()
        thread.join(timeout=2)
    return code


def worker_main(index: int) -> int:
    """One worker: the resolver on the shared address, metrics on a free loopback port."""
    import uvloop

    from resolver.service import serve

    settings = ResolverSettings.model_validate_json(os.environ[SETTINGS_ENV])
    host, _ = split_host_port(settings.metrics_listen)
    mine = settings.model_copy(update={"metrics_listen": f"{host}:0"})
    return uvloop.run(serve(mine, worker=index))


if __name__ == "__main__":
    raise SystemExit(worker_main(int(sys.argv[1])))
