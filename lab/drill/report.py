"""Human-readable output of a drill: the summary table (stdout) and report.md.

Pure: functions take the ``results.json`` run dicts and return text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _s(x: float | None, nd: int = 2) -> str:
    return "∞" if x is None else f"{x:.{nd}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(r[1:], widths[1:], strict=True)
        ]
        out.append("  ".join(cells))
    return out


def summary_table(runs: Sequence[dict[str, Any]]) -> str:
    """One row per TTL: delays, stale-routing window percentiles, model, failed requests."""
    header = [
        "TTL",
        "detect s",
        "propag s",
        "affected",
        "p50 s",
        "p90 s",
        "p99 s",
        "max s",
        "mean s",
        "model mean/max s",
        "failed req",
    ]
    rows = []
    for run in runs:
        w, m = run["stale_window_s"], run["model"]
        rows.append(
            [
                str(run["ttl"]),
                _s(run["detection_s"]),
                _s(run["propagation_s"], 3),
                f"{run['clients_affected']}/{run['clients']}",
                _s(w["p50"]),
                _s(w["p90"]),
                _s(w["p99"]),
                _s(w["max"]) + ("+" if run["censored"] else ""),
                _s(w["mean"]),
                f"{_s(m['mean_s'])}/{_s(m['max_s'])}" + ("*" if m["unbounded_clients"] else ""),
                str(run["failed_requests"]),
            ]
        )
    return "\n".join(_table(header, rows))


def profile_table(runs: Sequence[dict[str, Any]]) -> str:
    """Per profile and TTL: measured mean/max of affected clients beside the model's."""
    header = ["profile", *(f"TTL {r['ttl']}: mean/max (model)" for r in runs)]
    names = sorted({name for r in runs for name in r["by_profile"]})
    rows = []
    for name in names:
        cells = [name]
        for r in runs:
            p = r["by_profile"].get(name)
            if p is None or p["clients_affected"] == 0:
                cells.append("-")
                continue
            w, m = p["stale_window_s"], p["model"]
            plus = "+" if p["censored"] else ""
            cells.append(
                f"{_s(w['mean'])}/{_s(w['max'])}{plus} ({_s(m['mean_s'])}/{_s(m['max_s'])})"
            )
        rows.append(cells)
    return "\n".join(_table(header, rows))


LEGEND = (
    "stale-routing window = fault → last request a client sent to the dead region, over the "
    "clients that were using it; '+' = some clients were still sent there when the run ended "
    "(window is a lower bound); ∞ = unbounded (pinned clients never re-resolve); "
    "model* = the model over the bounded clients only."
)


def longest(run: dict[str, Any]) -> str:
    """The longest bounded window of a run, and why (pinned clients are obvious)."""
    for cw in run.get("client_windows", []):
        if not cw["profile"].startswith("pinned"):
            return (
                f"TTL {run['ttl']}: client {cw['client']} ({cw['location']} {cw['source']}, "
                f"{cw['profile']}) {cw['window_s']:.2f}s: {cw['why']}"
            )
    return f"TTL {run['ttl']}: no bounded stale window"


def why_section(run: dict[str, Any], top: int = 8) -> list[str]:
    """report.md: the longest windows, plus the longest of every profile not already shown."""
    cws = run.get("client_windows", [])
    shown = cws[:top]
    profiles = {cw["profile"] for cw in shown}
    for cw in cws[top:]:
        if cw["profile"] not in profiles:
            shown.append(cw)
            profiles.add(cw["profile"])
    lines = [f"## TTL {run['ttl']} s — who was stale longest, and why", ""]
    for cw in shown:
        plus = "+" if cw["censored"] else ""
        lines.append(
            f"- client {cw['client']} ({cw['location']} {cw['source']}, {cw['profile']}): "
            f"{cw['window_s']:.2f}s{plus} — {cw['why']}"
        )
    return [*lines, ""]


def ttl_clock_line(runs: Sequence[dict[str, Any]]) -> str:
    """Which TTL arithmetic the lab resolver used (docs/resolver.md, ttl-clock)."""
    clocks = sorted({str(r.get("ttl_clock")) for r in runs if r.get("ttl_clock")})
    meaning = {"seconds": "Unbound's whole seconds", "exact": "the exact instant"}
    said = ", ".join(f"{c} ({meaning.get(c, c)})" for c in clocks) or "not recorded"
    return f"lab resolver TTL clock: ttl-clock = {said}"


def cost_line(run: dict[str, Any]) -> str:
    cost = run.get("cost") or {}
    q, auth = cost.get("queries_per_client_hour"), cost.get("authoritative_qps")
    text = f"TTL {run['ttl']}: {'-' if q is None else f'{q:.1f}'} DNS queries per client per hour"
    if auth is not None:
        text += f", authoritative {auth:.1f} q/s (clients + resolver upstream, no probes)"
    return text


def render_summary(runs: Sequence[dict[str, Any]]) -> str:
    dead = ", ".join(sorted({str(r["dead_region"]) for r in runs}))
    sim = " — SIMULATED on a virtual clock" if any(r["mode"] == "sim" for r in runs) else ""
    return "\n".join(
        [
            f"stale-routing window after the fault (dead region: {dead}){sim}",
            ttl_clock_line(runs),
            summary_table(runs),
            "",
            "by client profile (affected clients):",
            profile_table(runs),
            "",
            "longest bounded window, and why:",
            *(longest(r) for r in runs),
            "",
            "cost (the other half of the trade-off):",
            *(cost_line(r) for r in runs),
            "",
            *(f"note (TTL {r['ttl']}): {n}" for r in runs for n in r["notes"]),
            LEGEND,
        ]
    )


def render_report(doc: dict[str, Any], plots: Sequence[str]) -> str:
    """report.md: the scenario, the tables, the timeline of each run and the plots."""
    sc = doc["scenario"]
    runs = doc["runs"]
    failed = [r for r in runs if r.get("failed")]
    lines = [
        f"# Drill report: {sc['name']}",
        "",
        *(
            [
                f"**DRILL FAILED: a fault step did not happen in the TTL "
                f"{', '.join(str(r['ttl']) for r in failed)} run(s); see the notes. Their "
                "numbers describe no real outage.**",
                "",
            ]
            if failed
            else []
        ),
        *([sc["description"], ""] if sc.get("description") else []),
        f"- scenario file: `{doc['scenario_file']}`; started {doc['started_at']}",
        f"- clients: {sc['clients']}, one request every {sc['request_interval']} s each; "
        f"checks: interval {sc['checks']['interval']} s, fall {sc['checks']['fall']}, "
        f"rise {sc['checks']['rise']}, timeout {sc['checks']['timeout']} s",
        "- model: max ≈ F·I + τ + TTL_eff, mean ≈ (F - ½)·I + τ + TTL_eff/2 (docs/drills.md)",
        f"- {ttl_clock_line(runs)}",
        "",
        "## Summary",
        "",
        "```",
        summary_table(runs),
        "```",
        "",
        "## By client profile",
        "",
        "```",
        profile_table(runs),
        "```",
        "",
        LEGEND,
        "",
    ]
    for run in runs:
        g = run["model"].get("given_measured_detection")
        if g and g["mean_s"] is not None:
            lines += [
                f"TTL {run['ttl']} s: with this run's measured detection "
                f"({_s(run['detection_s'])} s) and propagation ({_s(run['propagation_s'], 3)} s) "
                f"the model says mean {_s(g['mean_s'])} s / max {_s(g['max_s'])} s "
                f"(measured {_s(run['stale_window_s']['mean'])} / {_s(run['stale_window_s']['max'])}).",
                "",
            ]
    for run in runs:
        lines += why_section(run)
        lines += [f"## TTL {run['ttl']} s — timeline", ""]
        lines += [f"- t={t:.3f} s: {text}" for t, text in run["events"]]
        lines += [f"- note: {n}" for n in run["notes"]]
        lines.append("")
    if plots:
        lines += ["## Plots", ""]
        lines += [f"![{p}]({p})" for p in plots]
        lines.append("")
    return "\n".join(lines)
