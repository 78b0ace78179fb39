"""Throughput and latency of dnslab's authoritative server next to Knot DNS, driven by dnsperf.

Both servers load the same zones (``tests/data/differential/``) on loopback with one worker
each (knotd: one UDP and one TCP worker; dnslab: its single process). They run one after
the other, never at the same time, and each gets the same dnsperf settings and query file
(``bench/queries.txt``: positive, wildcard, NXDOMAIN, NODATA and referral queries).

    .venv/bin/python bench/dnsperf_vs_knot.py [--duration 10] [--clients 10] [--qps 0]

``make bench`` runs it with the defaults. Results go to stdout (a Markdown table); record
them in ``docs/benchmarks.md`` with the command and the date.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

QUERIES = REPO / "bench" / "queries.txt"


@dataclass(frozen=True)
class Result:
    server: str
    qps: float
    avg_latency_ms: float
    max_latency_ms: float
    stddev_ms: float
    sent: int
    lost: int
    rcodes: str
    cpu_us_per_query: float  # server CPU (user+system, all threads) per answered query


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dnsperf_vs_knot.py",
        description=(
            "Run Knot DNS and dnslab authoritative (one worker each) on the same zones on "
            "loopback, drive each with dnsperf using identical settings, and print queries "
            "per second, latency and the ratio dnslab/Knot side by side."
        ),
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per server (-l)")
    parser.add_argument("--clients", type=int, default=10, help="dnsperf clients (-c)")
    parser.add_argument("--outstanding", type=int, default=100, help="max queries in flight (-q)")
    parser.add_argument(
        "--qps", type=int, default=0, help="cap on queries per second (-Q); 0 = as fast as possible"
    )
    parser.add_argument(
        "--queries", type=Path, default=QUERIES, help="dnsperf data file (name type per line)"
    )
    parser.add_argument(
        "--latency-qps",
        type=int,
        default=5000,
        help="a second run per server at this fixed rate, for unsaturated latency; 0 = skip",
    )
    parser.add_argument(
        "--mode", choices=("udp", "tcp"), default="udp", help="dnsperf transport (-m)"
    )
    parser.add_argument("--only", choices=("knot", "dnslab"), help="benchmark one server only")
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients <= 0 or args.outstanding <= 0:
        parser.error("--duration, --clients and --outstanding must be > 0")
    if args.qps < 0 or args.latency_qps < 0:
        parser.error("--qps and --latency-qps must be >= 0")
    if not args.queries.is_file():
        parser.error(f"--queries {args.queries}: no such file")
    return args


def dnsperf_argv(dnsperf: str, port: int, args: argparse.Namespace, qps: int) -> list[str]:
    argv = [dnsperf, "-s", "127.0.0.1", "-p", str(port), "-d", str(args.queries)]
    argv += ["-c", str(args.clients), "-l", str(args.duration), "-q", str(args.outstanding)]
    argv += ["-T", "1", "-e", "-m", args.mode]
    if qps:
        argv += ["-Q", str(qps)]
    return argv


def phases(args: argparse.Namespace) -> list[int]:
    """The -Q of each run per server: the main run, then the fixed-rate latency run."""
    return [args.qps] + ([args.latency_qps] if args.latency_qps else [])


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"dnsperf output lacks {pattern!r}:\n{text}")
    return float(match.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def parse_dnsperf(server: str, text: str, cpu: float = 0.0) -> Result:
    rcodes = re.search(r"Response codes:\s*(.*)", text)
    completed = number(r"Queries completed:\s*(\d+)", text)
    return Result(
        server=server,
        qps=number(r"Queries per second:\s*([\d.]+)", text),
        avg_latency_ms=1000 * number(r"Average Latency \(s\):\s*([\d.]+)", text),
        max_latency_ms=1000 * number(r"Average Latency \(s\):.*max ([\d.]+)", text),
        stddev_ms=1000 * number(r"Latency StdDev \(s\):\s*([\d.]+)", text),
        sent=int(number(r"Queries sent:\s*(\d+)", text)),
        lost=int(number(r"Queries lost:\s*(\d+)", text)),
        rcodes=rcodes.group(1).strip() if rcodes else "",
        cpu_us_per_query=1e6 * cpu / completed if completed else 0.0,
    )


def run_dnsperf(
    dnsperf: str, server: str, port: int, pid: int, args: argparse.Namespace, qps: int
) -> Result:
    argv = dnsperf_argv(dnsperf, port, args, qps)
    print(f"# {server}: {' '.join(argv)}", file=sys.stderr)
    before = cpu_seconds(pid)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    cpu = cpu_seconds(pid) - before
    if proc.returncode != 0:
        raise SystemExit(f"dnsperf failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    label = f"{server} @ {qps} q/s" if qps else server
    return parse_dnsperf(label, proc.stdout, cpu)


def table(results: list[Result]) -> str:
    rows = [
        "| server | q/s | avg latency ms | max ms | stddev ms | server CPU µs/query | sent | lost "
        "| response codes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.server} | {r.qps:,.0f} | {r.avg_latency_ms:.3f} | {r.max_latency_ms:.3f} "
            f"| {r.stddev_ms:.3f} | {r.cpu_us_per_query:.1f} | {r.sent} | {r.lost} | {r.rcodes} |"
        )
    by_name = {r.server: r for r in results}
    for name, knot in by_name.items():
        ours = by_name.get(name.replace("knot", "dnslab", 1))
        if not name.startswith("knot") or ours is None or knot.qps <= 0:
            continue
        rows.append("")
        rows.append(
            f"ratio dnslab/Knot ({name.replace('knot', 'run', 1)}): "
            f"throughput {ours.qps / knot.qps:.3f}, "
            f"average latency {ours.avg_latency_ms / max(knot.avg_latency_ms, 1e-9):.2f}x, "
            f"CPU per query {ours.cpu_us_per_query / max(knot.cpu_us_per_query, 1e-9):.2f}x"
        )
    return "\n".join(rows)


def servers(args: argparse.Namespace) -> tuple[str, ...]:
    """The servers this run benchmarks, in order: both, or the one ``--only`` names."""
    return tuple(s for s in ("knot", "dnslab") if args.only in (None, s))


def bench(args: argparse.Namespace) -> list[Result]:
    from lab.procs import ProcessGroup
    from tests.integration.knot import start_knot
    from tests.integration.servers import ZONES, start_dnslab

    dnsperf = shutil.which("dnsperf")
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    if dnsperf is None or not Path(knotd).exists():
        raise SystemExit("needs dnsperf and knotd (apt-get install dnsperf knot)")
    results = []
    with tempfile.TemporaryDirectory(prefix="dnslab-bench-") as tmp:
        if "knot" in servers(args):
            with ProcessGroup(log_dir=Path(tmp) / "logs") as group:
                knot = start_knot(group, knotd, Path(tmp) / "knot", ZONES, log_level="error")
                for qps in phases(args):
                    results.append(
                        run_dnsperf(dnsperf, "knot", knot.port, knot.child.pid, args, qps)
                    )
        if "dnslab" in servers(args):
            with ProcessGroup(log_dir=Path(tmp) / "logs") as group:
                ours = start_dnslab(group, ZONES)
                for qps in phases(args):
                    results.append(
                        run_dnsperf(dnsperf, "dnslab", ours.port, ours.child.pid, args, qps)
                    )
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()[0]
    results = bench(args)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    caps = ", then -Q ".join(str(q) if q else "uncapped" for q in phases(args))
    print(
        f"dnsperf -m {args.mode} -c {args.clients} -q {args.outstanding} -l {args.duration} -T 1 -e "
        f"(runs: {caps}), {args.queries.name}, {when}, {os.cpu_count()} CPUs, "
        f"load average {load_before:.2f} before / {os.getloadavg()[0]:.2f} after\n"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
