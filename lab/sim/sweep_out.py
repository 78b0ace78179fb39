"""What ``dnslab sweep`` writes: results.json (schema ``sweep.schema.json``), cells.csv,
clients.csv, report.md and three plots. ``document`` is pure; the ``write_*`` functions are the
only ones here touching files."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from lab.sim.sweep import CellResult, mix_text

SCHEMA = "dnslab.sweep.results/1"
METRIC_ORDER = (
    "detection_s",
    "propagation_s",
    "clients_affected",
    "censored",
    "cut",
    "window_p50_s",
    "window_p90_s",
    "window_p99_s",
    "window_max_s",
    "window_mean_s",
    "window_mean_bounded_s",
    "failed_requests",
    "requests",
    "authoritative_qps",
    "resolver_hit_ratio",
    "queries_per_client_hour",
)


def schema() -> dict[str, Any]:
    """The JSON Schema of results.json (shipped as package data)."""
    text = resources.files("lab.sim").joinpath("sweep.schema.json").read_text()
    doc: dict[str, Any] = json.loads(text)
    return doc


def _clean(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_clean(v) for v in x]
    return x


def document(
    results: Sequence[CellResult],
    varying: Sequence[str],
    started: str,
    command: str,
    scenario_file: str,
    config_file: str,
    replicates: int,
    stale_at: Sequence[float],
) -> dict[str, Any]:
    cells = []
    notes: list[str] = []
    for r in results:
        label = r.cell.label(varying)
        for f in r.failures:  # first: these cells measured no real outage
            notes.append(f"INJECTION FAILED in cell {r.cell.index} ({label}): {f}")
    for r in results:
        label = r.cell.label(varying)
        if r.cut:
            notes.append(
                f"CUT in cell {r.cell.index} ({label}): {r.cut} clients with a bounded window were "
                f"still stale at the horizon ({r.horizon:g} s); their windows are lower bounds. "
                "Raise --horizon."
            )
        cells.append(
            {
                "index": r.cell.index,
                "label": label,
                "params": r.cell.params(),
                "horizon_s": round(r.horizon, 3),
                "cut": r.cut,
                "failed": bool(r.failures),
                "metrics": r.summary(),
                "model": {k: None if v is None else round(v, 4) for k, v in r.model.items()},
                "by_profile": r.by_profile,
            }
        )
    clocks = sorted({r.ttl_clock for r in results if r.ttl_clock})
    doc: dict[str, Any] = _clean(
        {
            "schema": SCHEMA,
            "started_at": started,
            "command": command,
            "scenario_file": scenario_file,
            "config_file": config_file,
            "mode": "sim",
            "resolver_ttl_clock": clocks[0] if len(clocks) == 1 else ",".join(clocks),
            "replicates": replicates,
            "stale_at_s": list(stale_at),
            "varying": list(varying),
            "cut_cells": sum(1 for r in results if r.cut),
            "failed_cells": sum(1 for r in results if r.failures),
            "cells": cells,
            "notes": notes,
        }
    )
    return doc


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")


def write_csv(
    out: Path, doc: dict[str, Any], results: Sequence[CellResult], rows: bool
) -> list[str]:
    """cells.csv (one row per cell: parameters, then mean and CI of every metric) and, unless
    ``rows`` is False, clients.csv (one row per affected client of each cell's first run)."""
    names = ["cells.csv"]
    metric_keys = list(doc["cells"][0]["metrics"]) if doc["cells"] else []
    with (out / "cells.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        params = ["ttl", "interval", "fall", "rise", "timeout", "ttl_policy", "mix", "rate"]
        params += ["arrivals", "resolvers", "clients"]
        head = ["cell", *params, "horizon_s", "cut"]
        for k in metric_keys:
            head += [k, f"{k}_ci95"]
        w.writerow(head)
        for c in doc["cells"]:
            p = c["params"]
            row = [c["index"], *(mix_text(p[k]) if k == "mix" else p[k] for k in params)]
            row += [c["horizon_s"], c["cut"]]
            for k in metric_keys:
                m = c["metrics"][k]
                row += [
                    "" if m["mean"] is None else m["mean"],
                    "" if m["ci95"] is None else m["ci95"],
                ]
            w.writerow(row)
    if rows:
        names.append("clients.csv")
        with (out / "clients.csv").open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["cell", "client", "profile", "location", "window_s", "censored"])
            for r in results:
                for cid, prof, loc, win, cens in r.clients:
                    w.writerow([r.cell.index, cid, prof, loc, f"{win:.4f}", int(cens)])
    return names


def _fmt(m: dict[str, Any], nd: int = 2) -> str:
    if m["mean"] is None:
        return "-"
    s = f"{m['mean']:.{nd}f}"
    if m["ci95"] is not None:
        s += f" ± {m['ci95']:.{nd}f}"
    return s


def render_report(doc: dict[str, Any], plots: Sequence[str]) -> str:
    taus = doc["stale_at_s"]
    lines = [
        "# Sweep report (simulated on a virtual clock)",
        "",
        f"- command: `{doc['command']}`",
        f"- scenario: `{doc['scenario_file']}`, lab: `{doc['config_file']}`; started {doc['started_at']}",
        f"- {len(doc['cells'])} cells x {doc['replicates']} replicates (new probe phase, start "
        "offsets and cache ages each); values are means ± 95 % CI over replicates",
        f"- lab resolver ttl-clock: `{doc['resolver_ttl_clock']}`",
        "- model: max ≈ F·I + τ + TTL_eff, mean ≈ (F - 1/2)·I + τ + TTL_eff/2 (bounded clients)",
        "",
    ]
    if doc["failed_cells"]:
        lines += [f"**SWEEP FAILED — {n}**" for n in doc["notes"] if n.startswith("INJECTION")]
        lines += ["", "Those cells' numbers describe no real outage.", ""]
    if doc["cut_cells"]:
        lines += [f"**WARNING — {n}**" for n in doc["notes"] if n.startswith("CUT")] + [""]
    head = ["cell", "params", "detect s", "window p50 / p90 / p99 / max s", "mean s"]
    head += ["bounded mean s (model)"]
    head += [f"stale @+{t:g}s" for t in taus]
    head += ["failed req", "auth q/s", "resolver hits", "q/client/h", "horizon s"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for c in doc["cells"]:
        m = c["metrics"]
        win = " / ".join(
            "-" if m[k]["mean"] is None else f"{m[k]['mean']:.1f}"
            for k in ("window_p50_s", "window_p90_s", "window_p99_s", "window_max_s")
        )
        model_mean = c["model"].get("mean_s")
        bounded = _fmt(m["window_mean_bounded_s"]) + (
            f" ({model_mean:.2f})" if model_mean is not None else ""
        )
        row = [str(c["index"]), c["label"], _fmt(m["detection_s"]), win]
        row += [_fmt(m["window_mean_s"]), bounded]
        row += [_fmt(m[f"stale_share_at_{t:g}s"], 3) for t in taus]
        hits = m["resolver_hit_ratio"]
        row += [
            _fmt(m["failed_requests"], 0),
            _fmt(m["authoritative_qps"], 1),
            "-" if hits["mean"] is None else f"{hits['mean']:.3f}",
            _fmt(m["queries_per_client_hour"], 1),
            f"{c['horizon_s']:g}" + (f" (CUT {c['cut']})" if c["cut"] else ""),
        ]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "- window: fault → the last request a client sent to the dead region, over affected "
        "clients; bounded mean: without clients that never re-resolve (pinned), as the model; "
        "stale @+t: share of all clients still sent there at or after fault + t",
        "- cost: auth q/s = the authoritative server's queries per second from clients and the "
        "resolver's upstream (the lab's own probes excluded); resolver hits = share of client "
        "queries the resolver answered from cache; q/client/h = DNS queries per client per hour",
        "",
    ]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def write_plots(out: Path, doc: dict[str, Any], results: Sequence[CellResult]) -> list[str]:
    """window_cdf.png, tradeoff.png, stale_share.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lab.drill.plots import _finish

    labels = {c["index"]: c["label"] for c in doc["cells"]}
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in results:
        ws = sorted(r.windows)
        if not ws:
            continue
        xs = [w for w, _ in ws]
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        (line,) = ax.step(xs, ys, where="post", label=f"{labels[r.cell.index]} (n={len(xs)})")
        cens = [(x, y) for (x, c), y in zip(ws, ys, strict=True) if c]
        if cens:
            ax.plot(
                [cens[0][0]], [cens[0][1]], marker="x", markersize=9, color=line.get_color(),
                linestyle="none",
            )  # fmt: skip
            ax.axvline(r.horizon - r.fault_at, color=line.get_color(), linestyle=":", alpha=0.6)
    ax.plot(
        [],
        [],
        marker="x",
        linestyle="none",
        color="black",
        label="censored from here (still stale at the run's end: pinned or cut)",
    )
    _finish(
        plt, fig, ax, out / "window_cdf.png", "Stale-routing window, CDF per cell",
        "stale-routing window (s after the fault)", "share of affected clients",
    )  # fmt: skip

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    groups: dict[str, list[tuple[float, float, float, int]]] = {}
    for c in doc["cells"]:
        q, w = c["metrics"]["authoritative_qps"], c["metrics"]["window_mean_s"]
        if q["mean"] is None or w["mean"] is None:
            continue
        others = {k: v for k, v in c["params"].items() if k != "ttl" and k in doc["varying"]}
        key = (
            " ".join(f"{k}={mix_text(v) if k == 'mix' else v}" for k, v in others.items())
            or "all cells"
        )
        groups.setdefault(key, []).append(
            (q["mean"], w["mean"], w["ci95"] or 0.0, c["params"]["ttl"])
        )
    for key, pts in groups.items():
        pts.sort(key=lambda p: p[3])
        ax.errorbar(
            [p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], fmt="o-",
            capsize=3, label=key,
        )  # fmt: skip
        for x, y, _, ttl in pts:
            ax.annotate(f"TTL {ttl}", (x, y), fontsize=8)
    ax.legend()
    ax.set_xscale("log")
    ax.set_xlabel("authoritative queries/s (clients + resolver upstream, no probes)")
    ax.set_ylabel("mean stale-routing window (s)")
    ax.set_title("Trade-off: staleness against query cost")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "tradeoff.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for r in results:
        n = r.cell.clients
        wins = sorted(w for w, _ in r.windows)
        if not wins:
            continue
        top = max(wins)
        steps = [top * k / 200 for k in range(201)]
        share = []
        j = 0
        for t in steps:
            while j < len(wins) and wins[j] < t:
                j += 1
            share.append((len(wins) - j) / n)
        ax.plot(steps, share, label=labels[r.cell.index])
    _finish(
        plt, fig, ax, out / "stale_share.png", "Share of clients still stale",
        "seconds since the fault", "share of clients still sent to the dead region",
    )  # fmt: skip
    return ["window_cdf.png", "tradeoff.png", "stale_share.png"]
