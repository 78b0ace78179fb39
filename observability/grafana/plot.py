"""Draw a dashboard's panels with matplotlib from a real Prometheus: the panels' own PromQL.

Grafana cannot be installed on the lab's machines, so the README's picture is made this way
and says so in its title: every time-series and state panel of the dashboard JSON is queried
over the given window (Grafana's macros substituted as Grafana would for a 1 s scrape
interval) and drawn as lines; bar panels (instant queries over the window) as bars. It is not
a Grafana screenshot and does not pretend to be one.

    .venv/bin/python observability/grafana/plot.py --prometheus http://127.0.0.1:9090 \\
        --start UNIX --end UNIX --out docs/img/failover-drill.png [--dashboard failover-drill]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def get(base: str, path: str, **params: Any) -> Any:
    url = f"{base}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        doc = json.loads(resp.read())
    if doc.get("status") != "success":
        raise SystemExit(f"{url}: {doc}")
    return doc["data"]["result"]


def legend(fmt: str, labels: dict[str, str]) -> str:
    text = re.sub(r"\{\{\s*([a-z_]+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)
    return text or ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--prometheus", required=True, help="base URL, e.g. http://127.0.0.1:9090")
    ap.add_argument("--start", type=float, required=True, help="window start (Unix seconds)")
    ap.add_argument("--end", type=float, required=True, help="window end (Unix seconds)")
    ap.add_argument("--dashboard", default="failover-drill")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)

    import matplotlib

    from lab.prometheus import grafana_macros

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    doc = json.loads((HERE / "dashboards" / f"{args.dashboard}.json").read_text())
    panels = [p for p in doc["panels"] if p["type"] in ("timeseries", "state-timeline", "bargauge")]
    cols = 2
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(14, 3.2 * rows), squeeze=False)
    span = f"{max(1, round(args.end - args.start))}s"
    t0 = args.start
    for ax, panel in zip(axes.flat, panels, strict=False):
        unit = panel["fieldConfig"]["defaults"].get("unit", "")
        for t in panel["targets"]:
            expr = grafana_macros(t["expr"], "4s", span)
            if t.get("instant"):
                for r in get(args.prometheus, "/api/v1/query", query=expr, time=args.end):
                    name = legend(t.get("legendFormat", ""), r["metric"])
                    ax.barh(name, float(r["value"][1]), color="tab:orange")
                continue
            result = get(args.prometheus, "/api/v1/query_range", query=expr, start=args.start,
                         end=args.end, step=1)  # fmt: skip
            for r in result:
                xs = [float(v[0]) - t0 for v in r["values"]]
                ys = [float(v[1]) for v in r["values"]]
                step = panel["type"] == "state-timeline"
                ax.plot(xs, ys, drawstyle="steps-post" if step else "default",
                        label=legend(t.get("legendFormat", ""), r["metric"]))  # fmt: skip
        ax.set_title(panel["title"], fontsize=9)
        ax.set_xlabel("unit: " + unit if any(t.get("instant") for t in panel["targets"])
                      else f"seconds since {t0:.0f} (unit: {unit})", fontsize=7)  # fmt: skip
        ax.tick_params(labelsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(
        f"{doc['title']}: the dashboard's own PromQL against a real Prometheus, drawn with "
        "matplotlib (not a Grafana screenshot)",
        fontsize=10,
    )
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
