"""Cache hits of `dnslab resolver` next to Unbound's, driven by dnsperf, side by side in one run.

Both resolvers forward the lab zone (served by Knot DNS) with the same options; their caches
are filled first, so every measured query is a cache hit (TTL 3600, two names: A and TXT by
default). The two take turns: for each round, dnsperf runs against Unbound, then against
dnslab, with identical settings. Per run the script reads each server's CPU time (user +
system, every thread and, with --workers, every worker process, from /proc) and prints
**server CPU µs per answered query** — the figure that least depends on dnsperf and on other
load on a shared machine — next to q/s, with the ratios dnslab/Unbound per round.

    .venv/bin/python bench/resolver_vs_unbound.py [--duration 5] [--rounds 3] [--workers 1]

``--workers N`` runs Unbound with ``num-threads: N`` and dnslab with ``--workers N``;
``--scaling`` runs the whole comparison at 1 worker and at 2 and prints both. ``--ecs`` gives
each dnsperf query an ECS option and turns ECS on for both (Unbound's subnetcache module,
GeoDNS-style /16 scope from dnslab authoritative is not involved: Knot answers without scope,
so hits are global-scope hits reached through the ECS lookup). Record results with the
command in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _dnsperf_helpers() -> ModuleType:
    """bench/dnsperf_vs_knot.py: its dnsperf output parser and /proc CPU reader, not a copy."""
    spec = importlib.util.spec_from_file_location(
        "dnsperf_vs_knot", REPO / "bench" / "dnsperf_vs_knot.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


RECORDS = 'a 3600 IN A 192.0.2.1\nt 3600 IN TXT "dnslab resolver benchmark"\n'
QUERIES = "a.lab.example. A\nt.lab.example. TXT\n"


@dataclass(frozen=True)
class Run:
    server: str
    workers: int
    qps: float
    cpu_us: float  # server CPU per answered query
    lost: int
    rcodes: str


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="resolver_vs_unbound.py",
        description=(
            "Cache hits: dnslab resolver vs Unbound (same options, same upstream), taking turns "
            "under the same dnsperf load; prints q/s, server CPU µs per query and the ratios."
        ),
    )
    p.add_argument("--duration", type=int, default=5, help="seconds per dnsperf run (-l)")
    p.add_argument("--rounds", type=int, default=3, help="Unbound/dnslab turns per worker count")
    p.add_argument("--clients", type=int, default=4, help="dnsperf clients (-c)")
    p.add_argument("--outstanding", type=int, default=100, help="queries in flight (-q)")
    p.add_argument(
        "--workers", type=int, default=1, help="Unbound num-threads and dnslab --workers"
    )
    p.add_argument("--scaling", action="store_true", help="run at 1 and at 2 workers")
    p.add_argument("--ecs", action="store_true", help="queries carry ECS; ECS on for both")
    args = p.parse_args(argv)
    if min(args.duration, args.rounds, args.clients, args.outstanding, args.workers) <= 0:
        p.error("--duration, --rounds, --clients, --outstanding and --workers must be > 0")
    return args


def tree_cpu_seconds(helpers: ModuleType, pid: int) -> float:
    """CPU of a process and its child processes (dnslab's workers), from /proc."""
    total = helpers.cpu_seconds(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        total += sum(tree_cpu_seconds(helpers, int(c)) for c in children)
    return float(total)


def dnsperf_run(
    helpers: ModuleType,
    server: str,
    workers: int,
    port: int,
    pid: int,
    data: Path,
    args: argparse.Namespace,
) -> Run:
    argv = [
        "dnsperf",
        "-s",
        "127.0.0.1",
        "-p",
        str(port),
        "-d",
        str(data),
        "-l",
        str(args.duration),
    ]
    argv += ["-c", str(args.clients), "-q", str(args.outstanding), "-T", "1"]
    if args.ecs:
        argv += ["-E", "8:00011800c0a801"]  # ECS (option 8): family 1, /24, scope 0, 192.168.1
    print(f"# {server} x{workers}: {' '.join(argv)}", file=sys.stderr, flush=True)
    before = tree_cpu_seconds(helpers, pid)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    cpu = tree_cpu_seconds(helpers, pid) - before
    if proc.returncode != 0:
        raise SystemExit(f"dnsperf failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    r = helpers.parse_dnsperf(server, proc.stdout, cpu)
    return Run(server, workers, r.qps, r.cpu_us_per_query, r.lost, r.rcodes)


def compare(helpers: ModuleType, args: argparse.Namespace, workers: int, tmp: Path) -> list[Run]:
    from lab.procs import ProcessGroup, wait_for
    from tests.resolver.peers import (
        ask,
        start_dnslab_resolver,
        start_lab_knot,
        start_unbound,
        zone_text,
    )

    knotd, knotc, unbound = (shutil.which(n) for n in ("knotd", "knotc", "unbound"))
    if not (knotd and knotc and unbound and shutil.which("dnsperf")):
        raise SystemExit(
            "needs knotd, knotc, unbound and dnsperf (apt-get install knot unbound dnsperf)"
        )
    data = tmp / "queries.txt"
    data.write_text(QUERIES)
    dnslab = str(REPO / ".venv" / "bin" / "dnslab")
    ub_opts: dict[str, object] = {"num-threads": workers, "so-reuseport": True}
    ours_opts: dict[str, object] = {"send-client-subnet": args.ecs}
    if args.ecs:
        ub_opts |= {"module-config": '"subnetcache iterator"', "send-client-subnet": "127.0.0.1"}
        ub_opts |= {"client-subnet-always-forward": True}
    runs: list[Run] = []
    with ProcessGroup(log_dir=tmp / f"logs{workers}") as group:
        knot = start_lab_knot(group, knotd, knotc, tmp / f"knot{workers}", zone_text(1, RECORDS))
        ub = start_unbound(group, unbound, tmp / f"unbound{workers}", knot.addr, ub_opts)
        extra = ["--workers", str(workers)] if workers > 1 else []
        child, ours, _ = start_dnslab_resolver(group, dnslab, knot.addr, ours_opts, extra=extra)
        for addr in (ub.addr, ours):  # fill both caches; from here on every query is a hit
            for line in QUERIES.splitlines():
                name, qtype = line.split()
                wait_for(lambda a=addr, n=name, t=qtype: ask(a, n, t).rcode == "NOERROR", 5, "fill")
        ours_port = int(ours.rpartition(":")[2])
        for _ in range(args.rounds):
            runs.append(dnsperf_run(helpers, "unbound", workers, ub.port, ub.child.pid, data, args))
            runs.append(dnsperf_run(helpers, "dnslab", workers, ours_port, child.pid, data, args))
    return runs


def report(runs: list[Run]) -> str:
    rows = [
        "| round | workers | server | q/s | server CPU µs/query | lost | response codes |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    ratios: dict[int, list[tuple[float, float]]] = {}
    for i in range(0, len(runs), 2):
        ub, ours = runs[i], runs[i + 1]
        n = sum(1 for r in runs[:i:2] if r.workers == ub.workers) + 1
        for r in (ub, ours):
            rows.append(
                f"| {n} | {r.workers} | {r.server} | {r.qps:,.0f} | {r.cpu_us:.1f} | {r.lost} "
                f"| {r.rcodes} |"
            )
        ratios.setdefault(ub.workers, []).append(
            (ours.qps / max(ub.qps, 1e-9), ub.cpu_us / max(ours.cpu_us, 1e-9))
        )
    rows.append("")
    for workers, pairs in ratios.items():
        qps = ", ".join(f"{q:.2f}" for q, _ in pairs)
        cpu = ", ".join(f"{c:.2f}" for _, c in pairs)
        rows.append(
            f"workers {workers}: dnslab/Unbound q/s per round {qps} (median "
            f"{statistics.median(q for q, _ in pairs):.2f}); Unbound CPU/query ÷ dnslab's "
            f"(1.0 = as cheap) {cpu} (median {statistics.median(c for _, c in pairs):.2f})"
        )
    by = {
        (r.server, r.workers): [
            x.qps for x in runs if (x.server, x.workers) == (r.server, r.workers)
        ]
        for r in runs
    }
    for server in ("unbound", "dnslab"):
        one, two = by.get((server, 1)), by.get((server, 2))
        if one and two:
            rows.append(
                f"{server} scaling 1 -> 2 workers: {statistics.median(two) / statistics.median(one):.2f}x q/s (medians)"
            )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    helpers = _dnsperf_helpers()
    load = os.getloadavg()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="dnslab-bench-resolver-") as tmp:
        for workers in (1, 2) if args.scaling else (args.workers,):
            runs += compare(helpers, args, workers, Path(tmp))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"resolver cache hits, dnsperf -c {args.clients} -q {args.outstanding} -l {args.duration}, "
        f"{args.rounds} rounds{', ECS' if args.ecs else ''}, {when}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} before / {os.getloadavg()[0]:.2f} after\n"
    )
    print(report(runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
