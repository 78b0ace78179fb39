"""How fast one health view reaches every worker of ``dnslab authoritative --workers N``.

Starts the GeoDNS server (shipped lab.toml on free ports) with N workers, then repeatedly
forces eu-west down and up again through the admin API and measures, from the moment the
admin call returns, how long until ``--confirm`` consecutive answers for an eu client — each
from a fresh source port, so the kernel spreads them over the workers — all show the new
region. With one worker the same loop measures the admin call and one query alone.

    .venv/bin/python bench/workers_fanout.py [--workers 2] [--flips 20] [--confirm 20]

Prints the median and maximum per flip, beside the same for --workers 1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

EU, US = "127.0.2.1", "127.0.1.1"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="workers_fanout.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--workers", type=int, default=2, help="workers to measure (default 2)")
    p.add_argument("--flips", type=int, default=20, help="down/up changes to time (default 20)")
    p.add_argument(
        "--confirm", type=int, default=20, help="consecutive new answers that count as seen"
    )
    args = p.parse_args(argv)
    if args.workers < 1 or args.flips < 1 or args.confirm < 1:
        p.error("--workers, --flips and --confirm must be >= 1")
    return args


def measure(workers: int, flips: int, confirm: int) -> list[float]:
    from lab.procs import ProcessGroup, http_ready, udp_dns_ready
    from tests.conftest import DNSLAB
    from tests.integration.geo_lab import AUTH, addrs, admin, ask, write_lab

    times = []
    with tempfile.TemporaryDirectory(prefix="dnslab-fanout-") as tmp:
        config, port, admin_port = write_lab(Path(tmp))
        argv = [DNSLAB, "authoritative", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
        argv += ["--workers", str(workers)]
        with ProcessGroup(log_dir=Path(tmp) / "logs") as group:
            child = group.start("auth", argv)
            group.wait_ready(child, udp_dns_ready("127.0.0.1", port, "lab.example."))
            group.wait_ready(child, http_ready(f"http://127.0.0.1:{admin_port}/metrics"))
            for i in range(flips):
                state, want = ("down", US) if i % 2 == 0 else (None, EU)
                r = admin(
                    admin_port, "PUT", "/v1/health/eu-west", json={"state": state}, headers=AUTH
                )
                r.raise_for_status()
                t0 = time.perf_counter()
                seen = 0
                while seen < confirm:
                    seen = seen + 1 if addrs(ask(port, "127.2.0.10")) == [want] else 0
                    if time.perf_counter() - t0 > 10:
                        raise SystemExit(f"flip {i}: workers disagree after 10 s")
                times.append(time.perf_counter() - t0)
    return times


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    rows = []
    for n in sorted({1, args.workers}):
        t = measure(n, args.flips, args.confirm)
        rows.append((n, statistics.median(t), max(t)))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(
        f"{args.flips} flips, {args.confirm} consecutive answers from fresh ports each, {when}, "
        f"load average {load:.2f} before / {os.getloadavg()[0]:.2f} after\n"
    )
    print("| workers | median ms until every answer moved | max ms |")
    print("|---:|---:|---:|")
    for n, med, worst in rows:
        print(f"| {n} | {1000 * med:.1f} | {1000 * worst:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
