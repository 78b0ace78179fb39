"""PNG plots of a drill (matplotlib, Agg backend): stale-window CDF and dead-region share."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.drill.measure import requests as request_obs
from lab.drill.measure import stale_windows
from lab.drill.record import RunRecord


def write_plots(
    out: Path, records: Sequence[RunRecord], runs: Sequence[dict[str, Any]]
) -> list[str]:
    """Write ``stale_window_cdf.png`` and ``dead_share.png``; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rec, run in zip(records, runs, strict=True):
        reqs = request_obs(rec.observations)
        w = stale_windows(reqs, run["dead_region"] or "", rec.fault_at or 0.0, rec.recovered_at)
        xs = sorted(w.affected.values())
        if not xs:
            continue
        ys = [(i + 1) / len(xs) for i in range(len(xs))]
        ax.step(xs, ys, where="post", label=f"TTL {rec.ttl} s (n={len(xs)})")
    _finish(
        plt, fig, ax, out / "stale_window_cdf.png", "Stale-routing window, CDF per TTL",
        "stale-routing window (s after the fault)", "share of affected clients",
    )  # fmt: skip

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run in runs:
        pts = run["dead_share"]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"TTL {run['ttl']} s")
        if run["detection_s"] is not None:
            ax.axvline(run["detection_s"], linestyle=":", alpha=0.5)
    ax.axvline(0, color="red", linewidth=1, label="fault")
    _finish(
        plt, fig, ax, out / "dead_share.png", "Clients on the dead region over time",
        "seconds since the fault (dotted: checker marks down)",
        "share of clients sent to the dead region",
    )  # fmt: skip
    return ["stale_window_cdf.png", "dead_share.png"]


def _finish(plt: Any, fig: Any, ax: Any, path: Path, title: str, xlabel: str, ylabel: str) -> None:
    """The shared look of both plots (shares on 0..1), saved to ``path`` and closed."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
