"""How fast ``dnslab sweep`` simulates, against references measured in the same run.

    .venv/bin/python bench/sweep_speed.py            # the issue-9 figures (about 2 minutes)
    .venv/bin/python bench/sweep_speed.py --quick    # 10x smaller, for a smoke run

1. One cell: 100,000 clients (one request per second each) x 1 hour of virtual time x TTL 60,
   one replicate, one process (target: < 30 s).
2. A 5-TTL sweep (5, 30, 60, 300, 600) of the same population, two worker processes
   (target: < 2 minutes).
3. Reference: the same engine made to walk every request one by one (the drill's
   observation mode) on a 100-client slice of the same hour; its CPU cost per request,
   scaled to the cell's requests, is what a request-by-request simulator would need.
4. Reference: the closed form (DESIGN.md) for the cell's honours-ttl clients.

Prints each figure and the ratios; the numbers go to docs/benchmarks.md ("dnslab sweep").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SCENARIO = REPO / "bench" / "sweep.toml"
HORIZON = 3600.0


def one_cell(clients: int, ttl: int) -> tuple[float, float, object]:
    from lab.drill.scenario import load_scenario
    from lab.drill.sim import simulate_cell
    from lab.sim.run import RunSpec

    sc = load_scenario(SCENARIO).model_copy(update={"clients": clients})
    t0, c0 = time.perf_counter(), time.process_time()
    run = simulate_cell(sc, RunSpec(ttl, horizon=HORIZON))
    return time.perf_counter() - t0, time.process_time() - c0, run


def one_by_one(clients: int, ttl: int) -> tuple[float, int]:
    """CPU seconds and requests of the request-by-request walk on a slice."""
    from lab.drill.scenario import load_scenario
    from lab.drill.sim import simulate_cell
    from lab.sim.run import RunSpec

    sc = load_scenario(SCENARIO).model_copy(update={"clients": clients})
    c0 = time.process_time()
    run = simulate_cell(sc, RunSpec(ttl, horizon=HORIZON), observations=True)
    return time.process_time() - c0, sum(r.requests for r in run.results)


def sweep(clients: int, out: Path) -> float:
    cmd = [
        str(REPO / ".venv" / "bin" / "dnslab"),
        "sweep",
        str(SCENARIO),
        "--ttl",
        "5,30,60,300,600",
        "--clients",
        str(clients),
        "--horizon",
        str(HORIZON),
        "--replicates",
        "1",
        "--jobs",
        "2",
        "--no-client-rows",
        "--out",
        str(out),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10x fewer clients")
    args = ap.parse_args()
    n = 10_000 if args.quick else 100_000
    from lab.drill import model
    from lab.drill.profiles import parse_profile

    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    wall, cpu, run = one_cell(n, 60)
    reqs = sum(r.requests for r in run.results)  # type: ignore[attr-defined]
    print(
        f"1. one cell: {n} clients x {HORIZON:.0f} s x TTL 60: {wall:.1f} s wall, {cpu:.1f} s CPU, "
        f"{reqs / 1e6:.0f} M requests ({reqs / cpu / 1e6:.1f} M virtual requests per CPU-second)"
    )
    slice_cpu, slice_reqs = one_by_one(100, 60)
    per_req = slice_cpu / slice_reqs
    print(
        f"3. reference, one request at a time (100-client slice): {per_req * 1e6:.1f} µs CPU per "
        f"request -> {per_req * reqs:.0f} s CPU for the cell; bulk accounting is "
        f"{per_req * reqs / cpu:.0f}x faster"
    )
    rec = run.record  # type: ignore[attr-defined]
    honours = [
        w
        for cid, w in run.windows.affected.items()  # type: ignore[attr-defined]
        if rec.clients[cid].profile.name == "honours-ttl"
    ]
    check = model.CheckParams(rec.scenario.checks.interval, rec.scenario.checks.fall, 1.0)
    pred = model.predict(parse_profile("honours-ttl"), 60, check, 1.0, model.PROPAGATION_GUESS_S)
    mean = sum(honours) / len(honours)
    assert pred.mean_s is not None
    print(
        f"4. reference, closed form for honours-ttl: model mean {pred.mean_s:.2f} s, simulated "
        f"{mean:.2f} s (ratio {mean / pred.mean_s:.3f}; one detection draw per run, and windows "
        "end at the last request, r/2 = 0.5 s earlier on average)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        wall5 = sweep(n, Path(tmp) / "sweep")
    print(
        f"2. 5-TTL sweep (5,30,60,300,600), {n} clients x {HORIZON:.0f} s, 2 workers: {wall5:.1f} s wall"
    )
    target1, target5 = (30.0, 120.0) if not args.quick else (3.0, 12.0)
    print(
        f"targets: one cell < {target1:.0f} s: {'met' if wall < target1 else 'MISSED'} "
        f"({wall / target1:.2f} of it); 5-TTL sweep < {target5:.0f} s: "
        f"{'met' if wall5 < target5 else 'MISSED'} ({wall5 / target5:.2f} of it)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
