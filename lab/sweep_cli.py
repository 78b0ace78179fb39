"""``dnslab sweep``: a grid of simulated drills that teaches the TTL trade-off."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from lab.errors import ConfigError

SWEEP_HELP = """\
Run a grid of drills on a virtual clock (the lab's own checker, fault, authoritative, resolver
and client code; no processes) and report, per cell, how long clients stay on a dead region and
what the DNS traffic costs. Every axis takes a comma-separated list; the grid is the product of
all axes; an axis not given takes the scenario's value (or its [sweep] table's).

axes:
  --ttl 30,60,300          answer TTL of www.lab.example. (seconds, >= 0)
  --interval 2,10          checker probe interval (s)      --fall 3     failures to mark down
  --rise 2                 successes to mark up again      --timeout 1  probe timeout (s, <= interval)
  --ttl-policy fixed,dynamic
                           fixed: every answer has TTL; dynamic: time until the region could
                           next change state, clamped to [ttl_min, TTL] (gdnsd's rule)
  --mix honours-ttl=0.9,min-ttl:300=0.08,pinned=0.02
                           client profile weights; repeat --mix for several mixes. Profiles:
                           honours-ttl, shared-resolver, min-ttl:N, fixed:N, pinned,
                           serve-stale, prefetch, direct (docs/drills.md)
  --rate 0.1,1             requests per second per client (a client asks every 1/rate s)
  --arrivals periodic,poisson
                           a request every 1/rate s from a random offset, or Poisson arrivals
                           with that mean rate (exact, but walks every resolution: slower)
  --resolvers shared,per-client
                           shared-resolver clients share the lab resolver's cache (per ECS
                           scope), or each has a resolver of its own
  --clients 1000,100000    population size

each cell:
  runs --replicates times (new probe phase, start offsets, cache ages; mean and 95 % CI over
  them), until every bounded client has converged: first fault + the largest bounded model
  maximum + tail, or --horizon S. A bounded client still stale at the horizon is a CUT: it is
  reported loudly on stderr, in report.md and results.json.

outputs (--out DIR): results.json (schema lab/sim/sweep.schema.json), cells.csv, clients.csv
(one row per affected client; --no-client-rows skips it), report.md, window_cdf.png,
tradeoff.png, stale_share.png. Docs: docs/drills.md ("dnslab sweep").
"""

FLAG = {
    "ttl": "--ttl",
    "interval": "--interval",
    "fall": "--fall",
    "rise": "--rise",
    "timeout": "--timeout",
    "ttl_policy": "--ttl-policy",
    "mix": "--mix",
    "rate": "--rate",
    "arrivals": "--arrivals",
    "resolvers": "--resolvers",
    "clients": "--clients",
    "replicates": "--replicates",
    "horizon": "--horizon",
    "stale_at": "--stale-at",
}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sweep",
        help="a grid of simulated drills: stale windows and DNS cost per TTL/check setting",
        description=SWEEP_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", nargs="?", type=Path, help="scenario TOML (default: the demo's)")
    p.add_argument(
        "--config", type=Path, help="lab.toml (default: ./lab.toml, else the packaged one)"
    )
    p.add_argument("--out", type=Path, help="output directory (default: runs/sweep-TIMESTAMP)")
    for axis in ("ttl", "interval", "fall", "rise", "timeout", "rate", "clients"):
        p.add_argument(FLAG[axis], dest=axis, metavar="LIST", help="comma-separated values")
    p.add_argument("--ttl-policy", dest="ttl_policy", metavar="LIST", help="fixed,dynamic")
    p.add_argument("--resolvers", metavar="LIST", help="shared,per-client")
    p.add_argument("--arrivals", metavar="LIST", help="periodic,poisson")
    p.add_argument("--mix", action="append", metavar="P=W,...", help="profile weights (repeatable)")
    p.add_argument("--replicates", type=int, help="runs per cell (default 4)")
    p.add_argument("--horizon", type=float, metavar="S", help="seconds per run (default: derived)")
    p.add_argument(
        "--stale-at",
        dest="stale_at",
        metavar="LIST",
        help="seconds after the fault (default 60,900)",
    )
    p.add_argument(
        "--jobs", type=int, help="worker processes (default: the machine's cores, max 2)"
    )
    p.add_argument(
        "--no-client-rows", action="store_true", help="do not write clients.csv (large sweeps)"
    )
    p.add_argument(
        "--openmetrics",
        type=Path,
        metavar="FILE",
        help="also write the drill series of replicate 0 of every cell (scenario label 'NAME "
        "cell N') as timestamped OpenMetrics, for `promtool tsdb create-blocks-from "
        "openmetrics` and the Failover drill dashboard (docs/observability.md)",
    )
    p.set_defaults(handler=handle_sweep)


def _list(flag: str, text: str, conv: Callable[[str], Any]) -> list[Any]:
    items = [x.strip() for x in text.split(",") if x.strip()]
    if not items:
        raise ConfigError(f"{flag} {text!r}: give at least one value")
    try:
        return [conv(x) for x in items]
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: not a list of numbers, e.g. {flag} 30,60") from None


def parse_mix(text: str) -> dict[str, float]:
    """``honours-ttl=0.9,pinned=0.1`` → {"honours-ttl": 0.9, "pinned": 0.1} (``--mix``)."""
    out: dict[str, float] = {}
    for part in [x.strip() for x in text.split(",") if x.strip()]:
        name, sep, weight = part.rpartition("=")
        if not sep or not name:
            raise ConfigError(f"--mix {text!r}: expected PROFILE=WEIGHT pairs, got {part!r}")
        try:
            out[name.strip()] = float(weight)
        except ValueError:
            raise ConfigError(f"--mix {text!r}: weight of {name!r} is not a number") from None
    if not out:
        raise ConfigError(
            f"--mix {text!r}: the mix is empty; e.g. --mix honours-ttl=0.9,pinned=0.1"
        )
    return out


def axes_from_args(args: argparse.Namespace) -> tuple[dict[str, Any], set[str]]:
    given: dict[str, Any] = {}
    if args.ttl is not None:
        given["ttl"] = _list("--ttl", args.ttl, int)
    for axis, conv in (("interval", float), ("timeout", float), ("rate", float)):
        if getattr(args, axis) is not None:
            given[axis] = _list(FLAG[axis], getattr(args, axis), conv)
    for axis in ("fall", "rise", "clients"):
        if getattr(args, axis) is not None:
            given[axis] = _list(FLAG[axis], getattr(args, axis), int)
    if args.ttl_policy is not None:
        given["ttl_policy"] = _list("--ttl-policy", args.ttl_policy, str)
    if args.resolvers is not None:
        given["resolvers"] = _list("--resolvers", args.resolvers, str)
    if args.arrivals is not None:
        given["arrivals"] = _list("--arrivals", args.arrivals, str)
    if args.mix:
        given["mix"] = [parse_mix(m) for m in args.mix]
    if args.replicates is not None:
        given["replicates"] = args.replicates
    if args.horizon is not None:
        given["horizon"] = args.horizon
    if args.stale_at is not None:
        given["stale_at"] = _list("--stale-at", args.stale_at, float)
    return given, set(given)


@dataclass(frozen=True)
class SweepOptions:
    scenario: Path | None
    config: Path | None
    out: Path | None
    flags: dict[str, Any]
    jobs: int | None = None
    client_rows: bool = True
    command: str = "dnslab sweep"
    openmetrics: Path | None = None


def handle_sweep(args: argparse.Namespace) -> int:
    flags, _ = axes_from_args(args)
    opts = SweepOptions(
        args.scenario,
        args.config,
        args.out,
        flags,
        args.jobs,
        not args.no_client_rows,
        "dnslab sweep " + " ".join(shlex.quote(a) for a in sys.argv[2:]),
        args.openmetrics,
    )
    return run_sweep(opts)


def _axes(opts: SweepOptions, sc_sweep: dict[str, Any] | None, source: str) -> Any:
    from pydantic import ValidationError

    from lab.sim.sweep import SweepAxes

    try:
        base = SweepAxes.model_validate(sc_sweep or {})
    except ValidationError as exc:
        e = exc.errors()[0]
        loc = ".".join(str(x) for x in e["loc"])
        raise ConfigError(f"{source}: sweep.{loc}: {e['msg']}") from None
    try:
        over = SweepAxes.model_validate(opts.flags)
    except ValidationError as exc:
        e = exc.errors()[0]
        flag = FLAG.get(str(e["loc"][0]), str(e["loc"][0]))
        raise ConfigError(f"{flag}: {e['msg'].removeprefix('Value error, ')}") from None
    return base.merged(over, set(opts.flags))


def run_sweep(
    opts: SweepOptions, out_stream: TextIO | None = None, err: TextIO | None = None
) -> int:
    from lab.config import load_config
    from lab.drill.runner import config_path, refuse_container_steps
    from lab.drill.scenario import DEFAULT_SCENARIO, load_scenario
    from lab.drill.validate import check_scenario
    from lab.sim import sweep as sw
    from lab.sim import sweep_out as so

    out_stream = out_stream or sys.stdout
    err = err or sys.stderr
    if opts.jobs is not None and opts.jobs < 1:
        raise ConfigError(f"--jobs {opts.jobs}: worker processes must be >= 1 (default: 2)")
    source = str(opts.scenario or DEFAULT_SCENARIO)
    sc = load_scenario(opts.scenario)
    cfg_file = config_path(opts.config)
    check_scenario(sc, load_config(cfg_file), source)
    refuse_container_steps(sc)  # the simulation has no model of container faults
    axes = _axes(opts, sc.sweep, source)
    for mix in axes.mix or []:
        check_scenario(sc.model_copy(update={"profiles": mix}), load_config(cfg_file), "--mix")
    try:
        cells = sw.grid(sc, axes)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    varying = sw.varying(cells)
    out = opts.out or Path("runs") / dt.datetime.now(dt.UTC).strftime("sweep-%Y%m%dT%H%M%SZ")
    out.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    jobs = opts.jobs or min(2, os.cpu_count() or 1)
    err.write(
        f"sweep {sc.name!r}: {len(cells)} cells x {axes.replicates} replicates "
        f"({', '.join(varying) or 'one cell'}), {jobs} worker(s); out {out}\n"
    )
    results = execute(cells, sc, axes, cfg_file, jobs, opts.client_rows, err)
    doc = so.document(
        results,
        varying,
        started,
        opts.command,
        source,
        str(cfg_file),
        axes.replicates,
        axes.stale_at,
    )
    so.write_json(out / "results.json", doc)
    so.write_csv(out, doc, results, opts.client_rows)
    plots = so.write_plots(out, doc, results)
    (out / "report.md").write_text(so.render_report(doc, plots))
    if opts.openmetrics is not None:
        from lab.drill.openmetrics import record_sweep

        n = record_sweep(cells, sc, axes.horizon, cfg_file, opts.openmetrics)
        err.write(f"openmetrics: {n} samples in {opts.openmetrics}\n")
    out_stream.write(summary(doc) + "\n")
    out_stream.write(f"\nresults: {out}/results.json, report: {out}/report.md\n")
    for note in doc["notes"]:
        err.write(f"WARNING: {note}\n")
    if doc["failed_cells"]:
        err.write(
            f"sweep FAILED: a fault step did not happen in {doc['failed_cells']} cell(s), so "
            "their numbers describe no real outage (see the INJECTION FAILED notes)\n"
        )
        return 1
    return 0


def execute(
    cells: Sequence[Any],
    sc: Any,
    axes: Any,
    cfg_file: Path,
    jobs: int,
    client_rows: bool,
    err: TextIO,
) -> list[Any]:
    """Run every (cell, replicate) task, ``jobs`` processes at a time, with a progress bar."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from lab.sim.progress import TaskProgress
    from lab.sim.sweep import run_cell

    tasks = [(c, k) for c in cells for k in range(axes.replicates)]
    results: dict[int, Any] = {}
    metrics: dict[int, list[tuple[int, Any]]] = {}
    failures: dict[int, list[tuple[int, list[str]]]] = {}

    def take(cell: Any, k: int, got: tuple[Any, Any]) -> None:
        m, res = got
        metrics.setdefault(cell.index, []).append((k, m))
        failures.setdefault(cell.index, []).append((k, res.failures))
        if k == 0:
            results[cell.index] = res

    with TaskProgress(len(tasks), "sweep", err) as bar:
        if jobs <= 1 or len(tasks) == 1:
            for cell, k in tasks:
                take(cell, k, run_cell(cell, sc, axes, cfg_file, k, client_rows))
                bar.advance(f"cell {cell.index} replicate {k}")
        else:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futs = {
                    pool.submit(run_cell, cell, sc, axes, cfg_file, k, client_rows): (cell, k)
                    for cell, k in tasks
                }
                for fut in as_completed(futs):
                    cell, k = futs[fut]
                    take(cell, k, fut.result())
                    bar.advance(f"cell {cell.index} replicate {k}")
    out = []
    for cell in cells:
        res = results[cell.index]
        res.runs = [m for _, m in sorted(metrics[cell.index], key=lambda x: x[0])]
        res.failures = [f for _, fs in sorted(failures[cell.index]) for f in fs]
        out.append(res)
    return out


def summary(doc: dict[str, Any]) -> str:
    """The stdout table: one line per cell."""
    taus = doc["stale_at_s"]
    head = f"{'cell':<4} {'params':<34} {'detect':>7} {'mean win':>14} {'bounded':>8}"
    head += f" {'p99':>7} {'max':>7}"
    head += "".join(f" {'@+' + format(t, 'g') + 's':>7}" for t in taus)
    head += f" {'auth q/s':>9} {'q/cl/h':>8}"
    lines = [
        f"stale-routing window per cell — SIMULATED, {doc['replicates']} replicates, "
        f"resolver ttl-clock {doc['resolver_ttl_clock']}",
        head,
        "-" * len(head),
    ]

    def v(m: dict[str, Any], nd: int = 2) -> str:
        return "-" if m["mean"] is None else f"{m['mean']:.{nd}f}"

    for c in doc["cells"]:
        m = c["metrics"]
        mw = m["window_mean_s"]
        mean = v(mw) + ("" if mw["ci95"] is None else f"±{mw['ci95']:.2f}")
        cut = " CUT" if c["cut"] else ""
        line = f"{c['index']:<4} {c['label'][:34]:<34} {v(m['detection_s']):>7} {mean:>14}"
        line += f" {v(m['window_mean_bounded_s']):>8}"
        line += f" {v(m['window_p99_s'], 1):>7} {v(m['window_max_s'], 1):>7}"
        line += "".join(f" {v(m[f'stale_share_at_{t:g}s'], 3):>7}" for t in taus)
        line += f" {v(m['authoritative_qps'], 1):>9} {v(m['queries_per_client_hour'], 1):>8}{cut}"
        lines.append(line)
    return "\n".join(lines)
