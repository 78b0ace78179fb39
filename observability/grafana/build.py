"""The Grafana dashboards as code: the one source of ``observability/grafana/dashboards/*.json``.

Built with Grafana's foundation SDK (``grafana-foundation-sdk``, pinned in pyproject.toml's dev
extras). Regenerate after a change and commit both::

    .venv/bin/python observability/grafana/build.py

``tests/observability/test_dashboards.py`` fails when the JSON files differ from what this
script builds, and checks every panel (units, descriptions, datasource variable, PromQL) and
``tests/integration/test_observability_live.py`` runs every expression against a real
Prometheus scraping a drill.
"""

from __future__ import annotations

import json
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # the SDK steers towards the v2 (resource) schema; file provisioning takes this one (v1)
    warnings.filterwarnings("ignore", "Prefer using dashboardv2", DeprecationWarning)
    from grafana_foundation_sdk.builders import (
        bargauge,
        heatmap,
        prometheus,
        statetimeline,
        timeseries,
    )
    from grafana_foundation_sdk.builders import common as cb
    from grafana_foundation_sdk.builders import dashboard as db
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common as cm
    from grafana_foundation_sdk.models import dashboard as dm
    from grafana_foundation_sdk.models import heatmap as hm
    from grafana_foundation_sdk.models import prometheus as pm

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DS = cm.DataSourceRef(type_val="prometheus", uid="${datasource}")
RUN = 'scenario=~"$scenario", ttl=~"$ttl"'
# the longest window of the runs in the time range, per TTL (also caps the quantiles)
WINDOW_MAX = (
    f"max by (ttl) (max_over_time(dnslab_drill_stale_window_max_seconds{{{RUN}}}[$__range]))"
)
TAGS = ["dnslab"]


@dataclass(frozen=True)
class Q:
    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False


def _target(q: Q, ref: str) -> prometheus.Dataquery:
    t = prometheus.Dataquery().expr(q.expr).ref_id(ref).datasource(DS)
    if q.legend:
        t = t.legend_format(q.legend)
    if q.instant:
        t = t.instant()
    if q.heatmap:
        t = t.format(pm.PromQueryFormat.HEATMAP)
    return t


def _legend() -> cb.VizLegendOptions:
    return (
        cb.VizLegendOptions()
        .show_legend(True)
        .display_mode(cm.LegendDisplayMode.LIST)
        .placement(cm.LegendPlacement.BOTTOM)
    )


def _common(panel: Any, title: str, desc: str, unit: str, queries: list[Q], w: int, h: int) -> Any:
    panel = panel.title(title).description(desc).unit(unit).datasource(DS).span(w).height(h)
    for i, q in enumerate(queries):
        panel = panel.with_target(_target(q, chr(ord("A") + i)))
    return panel


def series(
    title: str,
    desc: str,
    unit: str,
    queries: list[Q],
    w: int = 12,
    h: int = 8,
    stack: bool = False,
    lo: float | None = None,
    hi: float | None = None,
) -> timeseries.Panel:
    p = _common(timeseries.Panel(), title, desc, unit, queries, w, h).legend(_legend())
    if stack:
        p = p.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL)).fill_opacity(40)
    if lo is not None:
        p = p.min(lo)
    if hi is not None:
        p = p.max(hi)
    return p


def _state_mappings(pairs: list[tuple[str, str, str]]) -> list[dm.ValueMapping]:
    options = {v: dm.ValueMappingResult(text=text, color=color) for v, text, color in pairs}
    return [dm.ValueMap(options=options)]


def states(
    title: str, desc: str, queries: list[Q], pairs: list[tuple[str, str, str]], w: int = 24
) -> statetimeline.Panel:
    return (
        _common(statetimeline.Panel(), title, desc, "none", queries, w, 6)
        .mappings(_state_mappings(pairs))
        .show_value(cm.VisibilityMode.NEVER)
        .legend(_legend())
    )


def bars(title: str, desc: str, unit: str, queries: list[Q], w: int = 12) -> bargauge.Panel:
    return (
        _common(bargauge.Panel(), title, desc, unit, queries, w, 8)
        .display_mode(cm.BarGaugeDisplayMode.BASIC)
        .orientation(cm.VizOrientation.HORIZONTAL)
        .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .min(0)
    )


def _dashboard(title: str, uid: str, description: str) -> db.Dashboard:
    return (
        db.Dashboard(f"dnslab · {title}")
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time("now-15m", "now")
        .refresh("5s")
    )


def _with(d: db.Dashboard, panels: list[Any]) -> db.Dashboard:
    for p in panels:
        d = d.with_panel(p)
    return d


UP_STATES = [("1", "up", "green"), ("0", "down", "red"), ("-1", "unknown", "gray")]


def _variables(d: db.Dashboard, extra: list[tuple[str, str, str]]) -> db.Dashboard:
    d = d.with_variable(db.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    for name, label, query in extra:
        d = d.with_variable(
            db.QueryVariable(name)
            .label(label)
            .datasource(DS)
            .query({"query": query, "refId": name})
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .include_all(True)
            .all_value(".*")
            .multi(True)
            .sort(dm.VariableSort.ALPHABETICAL_ASC)
        )
    return d


def failover() -> db.Dashboard:
    d = _dashboard(
        "Failover drill",
        "dnslab-drill",
        "One chaos drill: a region is killed or faulted, the checker decides, the "
        "authoritative server changes its answers, and clients keep being sent to the dead "
        "region until their caches let go (the stale-routing window).",
    ).tooltip(dm.DashboardCursorSync.CROSSHAIR)
    d = _variables(
        d,
        [
            ("scenario", "Scenario", "label_values(dnslab_drill_run_active, scenario)"),
            ("ttl", "TTL", 'label_values(dnslab_drill_run_active{scenario=~"$scenario"}, ttl)'),
        ],
    )
    d = d.annotation(
        db.AnnotationQuery()
        .name("Faults")
        .datasource(DS)
        .enable(True)
        .icon_color("red")
        .target(
            prometheus.Dataquery()
            .expr(f"max by (region) (dnslab_drill_fault_active{{{RUN}}}) > 0")
            .legend_format("{{region}} faulted by the drill")
            .interval("1s")
            .ref_id("faults")
        )
    )
    panels = [
        states(
            "Region health (authoritative view)",
            "Each region as the authoritative server answers for it (quorum of checkers and "
            "admin overrides applied): when did the dead region leave the answers?",
            [Q("max by (region) (dnslab_authoritative_region_up)", "{{region}}")],
            UP_STATES,
            w=12,
        ),
        states(
            "Region health (checker verdicts)",
            "Each checker's verdict per region: when did detection happen, and did every "
            "vantage point agree?",
            [
                Q(
                    "max by (checker, region) (dnslab_healthcheck_region_up)",
                    "{{checker}} {{region}}",
                )
            ],
            UP_STATES,
            w=12,
        ),
        series(
            "Clients on a dead region",
            "Drill clients whose latest request went to the region the drill killed, by "
            "location and profile: the stale-routing window as it happens.",
            "short",
            [
                Q(
                    f"sum by (location, profile) (dnslab_drill_dead_region_clients{{{RUN}}})",
                    "{{location}} {{profile}}",
                )
            ],
            stack=True,
            lo=0,
        ),
        series(
            "Answer share by region, per location",
            "Share of the authoritative server's GeoDNS answers naming each region, per client "
            "location: the failover seen from the server.",
            "percentunit",
            [
                Q(
                    "sum by (location, region) (rate(dnslab_authoritative_geo_answers_total"
                    "[$__rate_interval])) / ignoring (region) group_left sum by (location) "
                    "(rate(dnslab_authoritative_geo_answers_total[$__rate_interval]))",
                    "{{location}} → {{region}}",
                )
            ],
            lo=0,
            hi=1,
        ),
        bars(
            "Stale-routing window per TTL (p50 / p90 / p99 / max)",
            "Per-client windows (fault → last request sent to the dead region) of the runs in "
            "the time range, from the drill's histogram (quantiles are interpolated inside "
            "their bucket, so they are exact to a bucket width; one above the longest "
            "window observed is shown as that maximum, never above it) and its max gauge. "
            "Compare with results.json (nearest-rank percentiles: the same bucket).",
            "s",
            [
                Q(
                    f"(histogram_quantile({q}, sum by (ttl, le) (increase("
                    f"dnslab_drill_stale_window_seconds_bucket{{{RUN}}}[$__range]))) "
                    f"< on (ttl) {WINDOW_MAX}) or on (ttl) {WINDOW_MAX}",
                    f"TTL {{{{ttl}}}} p{round(q * 100)}",
                    instant=True,
                )
                for q in (0.5, 0.9, 0.99)
            ]
            + [Q(WINDOW_MAX, "TTL {{ttl}} max", instant=True)],
        ),
        _common(
            heatmap.Panel(),
            "Stale windows closing (heatmap)",
            "How many clients' windows closed in each interval, by window length: the "
            "distribution's shape (one band per TTL and profile mix).",
            "s",
            [
                Q(
                    f"sum by (le) (increase(dnslab_drill_stale_window_seconds_bucket{{{RUN}}}"
                    "[$__rate_interval]))",
                    "{{le}}",
                    heatmap=True,
                )
            ],
            12,
            8,
        )
        .calculate(False)
        .color(heatmap.HeatmapColorOptions().scheme("Oranges").mode(hm.HeatmapColorMode.SCHEME)),
        series(
            "Detection and propagation delay",
            "Detection: fault → the checker marks the region down. Propagation: that "
            "decision → the authoritative answers stop naming the region. Per run (TTL).",
            "s",
            [
                Q(
                    f"max by (ttl, region) (dnslab_drill_detection_delay_seconds{{{RUN}}})",
                    "detection TTL {{ttl}} ({{region}})",
                ),
                Q(
                    f"max by (ttl, region) (dnslab_drill_propagation_delay_seconds{{{RUN}}})",
                    "propagation TTL {{ttl}} ({{region}})",
                ),
            ],
            lo=0,
        ),
        series(
            "Client requests by region and outcome",
            "Requests/s the drill's clients sent, by the region their answer named and whether "
            "it succeeded: failed requests are what users of the dead region feel.",
            "reqps",
            [
                Q(
                    f"sum by (region, outcome) (rate(dnslab_drill_requests_total{{{RUN}}}"
                    "[$__rate_interval]))",
                    "{{region}} {{outcome}}",
                )
            ],
            lo=0,
        ),
        series(
            "Failed client requests",
            "Failed requests/s (connection refused, timeouts, DNS errors) by region.",
            "reqps",
            [
                Q(
                    f'sum by (region) (rate(dnslab_drill_requests_total{{{RUN}, outcome="failed"}}'
                    "[$__rate_interval]))",
                    "{{region}}",
                )
            ],
            lo=0,
        ),
    ]
    return _with(d, panels)


def resolver() -> db.Dashboard:
    d = _dashboard(
        "Resolver",
        "dnslab-resolver",
        "The lab's caching stub resolver: cache behaviour and upstream traffic.",
    )
    d = _variables(
        d, [("instance", "Instance", "label_values(dnslab_resolver_queries_total, instance)")]
    )
    sel = 'instance=~"$instance"'
    panels = [
        series(
            "Cache hit ratio",
            "Share of client queries answered from fresh cache.",
            "percentunit",
            [
                Q(
                    f"sum(rate(dnslab_resolver_cache_hits_total{{{sel}}}[$__rate_interval])) / "
                    f"sum(rate(dnslab_resolver_queries_total{{{sel}}}[$__rate_interval]))",
                    "hit ratio",
                )
            ],
            lo=0,
            hi=1,
        ),
        series(
            "Queries by outcome",
            "Client queries/s by how they were answered (hit, miss, stale, prefetch, error...).",
            "reqps",
            [
                Q(
                    f"sum by (outcome) (rate(dnslab_resolver_queries_total{{{sel}}}"
                    "[$__rate_interval]))",
                    "{{outcome}}",
                )
            ],
            stack=True,
        ),
        series(
            "Stale serves and prefetches",
            "Expired answers served (RFC 8767 serve-stale) and background refreshes started, "
            "per second: how often clients got an old answer on purpose.",
            "ops",
            [
                Q(
                    f"sum(rate(dnslab_resolver_stale_answers_total{{{sel}}}[$__rate_interval]))",
                    "stale answers",
                ),
                Q(
                    f"sum(rate(dnslab_resolver_prefetches_total{{{sel}}}[$__rate_interval]))",
                    "prefetches",
                ),
            ],
        ),
        series(
            "Upstream queries",
            "Queries/s sent upstream (cache misses and refreshes) that succeeded, and "
            "upstream failures by kind.",
            "reqps",
            [
                Q(
                    f"sum(rate(dnslab_resolver_upstream_latency_seconds_count{{{sel}}}"
                    "[$__rate_interval]))",
                    "succeeded",
                ),
                Q(
                    f"sum by (kind) (rate(dnslab_resolver_upstream_errors_total{{{sel}}}"
                    "[$__rate_interval]))",
                    "failed: {{kind}}",
                ),
            ],
        ),
        series(
            "Upstream latency (p50 / p99)",
            "Time for one successful upstream query.",
            "s",
            [
                Q(
                    f"histogram_quantile({q}, sum by (le) (rate("
                    f"dnslab_resolver_upstream_latency_seconds_bucket{{{sel}}}[$__rate_interval])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
        ),
        series(
            "Cache entries",
            "Entries in the resolver's cache.",
            "short",
            [Q(f"sum(dnslab_resolver_cache_entries{{{sel}}})", "entries")],
            lo=0,
        ),
    ]
    return _with(d, panels)


def authoritative() -> db.Dashboard:
    d = _dashboard(
        "Authoritative",
        "dnslab-authoritative",
        "The GeoDNS authoritative server: traffic, caches, health feed and view.",
    )
    d = _variables(
        d,
        [("instance", "Instance", "label_values(dnslab_authoritative_queries_total, instance)")],
    )
    sel = 'instance=~"$instance"'
    panels = [
        series(
            "Queries by rcode",
            "DNS queries/s answered, by response code.",
            "reqps",
            [
                Q(
                    f"sum by (rcode) (rate(dnslab_authoritative_queries_total{{{sel}}}"
                    "[$__rate_interval]))",
                    "{{rcode}}",
                )
            ],
            stack=True,
        ),
        series(
            "Queries by qtype",
            "DNS queries/s answered, by query type (rare types grouped as 'other').",
            "reqps",
            [
                Q(
                    f"sum by (qtype) (rate(dnslab_authoritative_queries_total{{{sel}}}"
                    "[$__rate_interval]))",
                    "{{qtype}}",
                )
            ],
            stack=True,
        ),
        series(
            "Answer-cache hit ratio",
            "Share of queries answered from the wire cache (no answer pipeline run).",
            "percentunit",
            [
                Q(
                    f"sum(rate(dnslab_authoritative_cache_hits_total{{{sel}}}[$__rate_interval]))"
                    f" / (sum(rate(dnslab_authoritative_cache_hits_total{{{sel}}}"
                    f"[$__rate_interval])) + sum(rate(dnslab_authoritative_cache_misses_total"
                    f"{{{sel}}}[$__rate_interval])))",
                    "hit ratio",
                )
            ],
            lo=0,
            hi=1,
        ),
        series(
            "Query duration (p50 / p99, sampled)",
            "Time to answer one query inside the server; one query in 8 is timed (the first "
            "of each 8), so quantiles are of a systematic sample.",
            "s",
            [
                Q(
                    f"histogram_quantile({q}, sum by (le) (rate("
                    f"dnslab_authoritative_query_duration_seconds_bucket{{{sel}}}"
                    "[$__rate_interval])))",
                    f"p{round(q * 100)}",
                )
                for q in (0.5, 0.99)
            ],
        ),
        states(
            "Health feed",
            "1 while the server's event stream from each checker is connected; 0 means the "
            "server is fail-static (keeps the last state it heard).",
            [Q(f"max by (checker) (dnslab_authoritative_health_feed_up{{{sel}}})", "{{checker}}")],
            [("1", "connected", "green"), ("0", "lost (fail-static)", "red")],
            w=12,
        ),
        states(
            "Per-region health view",
            "Each region as the server answers for it (checker quorum and overrides applied).",
            [Q(f"max by (region) (dnslab_authoritative_region_up{{{sel}}})", "{{region}}")],
            UP_STATES,
            w=12,
        ),
        states(
            "Admin overrides",
            "Regions forced up or down through the admin API (overrides win over health).",
            [Q(f"max by (region) (dnslab_authoritative_region_forced{{{sel}}})", "{{region}}")],
            [
                ("1", "forced up", "blue"),
                ("0", "not forced", "transparent"),
                ("-1", "forced down", "orange"),
            ],
            w=12,
        ),
        series(
            "GeoDNS answers by region",
            "GeoDNS answers/s by the region chosen (or servfail/nodata), all locations.",
            "reqps",
            [
                Q(
                    f"sum by (region) (rate(dnslab_authoritative_geo_answers_total{{{sel}}}"
                    "[$__rate_interval]))",
                    "{{region}}",
                )
            ],
            stack=True,
        ),
    ]
    return _with(d, panels)


DASHBOARDS = {"failover-drill": failover, "resolver": resolver, "authoritative": authoritative}


# the SDK writes the interval variable's fields on every variable; the schema has them only
# for interval variables (@grafana/schema rejects them elsewhere), so they are dropped
INTERVAL_ONLY = ("auto", "auto_count", "auto_min")


def render(name: str) -> str:
    model = DASHBOARDS[name]().build()
    doc = json.loads(JSONEncoder(sort_keys=True).encode(model))
    for var in doc.get("templating", {}).get("list", []):
        if var.get("type") != "interval":
            for key in INTERVAL_ONLY:
                var.pop(key, None)
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    OUT.mkdir(exist_ok=True)
    check = "--check" in argv
    stale = []
    for name in DASHBOARDS:
        path = OUT / f"{name}.json"
        text = render(name)
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("out of date (run observability/grafana/build.py):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
