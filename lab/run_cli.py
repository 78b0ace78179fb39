"""``dnslab up`` and ``dnslab drill``: run the whole lab, and chaos drills against it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

UP_HELP = """\
Start the whole lab on loopback as child processes: every region backend (dnslab region,
with a control port for faults), the health checker(s), the authoritative GeoDNS server and
the caching resolver, at the addresses of lab.toml. Waits until each is ready, prints what
runs where (PIDs, addresses, logs), then shows a compact live status (region states from
the checker, resolver hit ratio). Ctrl-C or SIGTERM stops every child by PID. With
--prometheus it also runs Debian's Prometheus on a config generated for this lab (loopback
targets, the drill exporter, observability/rules) and prints how to point Grafana at it
(docs/observability.md). The live page of the lab's health and answers is served on
http://127.0.0.1:8787/ (or the free port printed; --web, --no-web; docs/web.md).
"""

DRILL_HELP = """\
Run a chaos drill: start a private lab (free ports, the scenario's check settings, one run
per TTL with the service TTL set to it) or use the running one (--attach), drive a population
of clients (each resolves www.lab.example by its profile — honours-ttl, shared-resolver,
min-ttl:N, fixed:N, pinned, serve-stale, prefetch, direct — from its location's source
address, then GETs / on the answer), inject the scenario's faults on schedule (SIGKILL a
region by PID, or POST /v1/faults) and measure detection delay, propagation delay, each
client's stale-routing window (fault → last request sent to the dead region), failed
requests, and the model's prediction beside them. Writes results.json, observations.csv,
report.md and PNG plots to --out, and prints the summary table. Without SCENARIO it runs
scenarios/default.toml: SIGKILL the region serving the most clients and keep it dead.
Schema and profiles: docs/drills.md. While it runs, a live page (Server-Sent Events of the
drill's events) is served on http://127.0.0.1:8787/ or the free port printed (--web, --no-web;
docs/web.md); `dnslab view OUT` shows the finished results.json on the same page.
"""


def add_web_flags(parser: argparse.ArgumentParser, help: str) -> None:
    parser.add_argument("--web", default=None, metavar="HOST:PORT", help=help)
    parser.add_argument("--no-web", action="store_true", help="do not serve the live page")


def register(sub: Any) -> None:
    up: argparse.ArgumentParser = sub.add_parser(
        "up", help="run the whole lab on loopback until Ctrl-C", description=UP_HELP
    )
    up.add_argument("--config", type=Path, help="lab.toml (default: ./lab.toml)")
    up.add_argument("--logs", type=Path, help="directory for logs (default: runs/up-TIMESTAMP)")
    up.add_argument(
        "--status-every", type=float, default=2.0, help="seconds between status lines (default 2)"
    )
    up.add_argument(
        "--prometheus",
        nargs="?",
        const="127.0.0.1:9090",
        metavar="HOST:PORT",
        help="also start a local Prometheus (Debian's /usr/bin/prometheus) scraping the lab and "
        "the drill exporter, on HOST:PORT (default 127.0.0.1:9090); prints how to point "
        "Grafana at it",
    )
    up.add_argument(
        "--drill-metrics",
        default="127.0.0.1:9310",
        metavar="HOST:PORT",
        help="with --prometheus: where drills against this lab serve their metrics (the "
        "address `dnslab drill --attach --metrics` uses; default 127.0.0.1:9310)",
    )
    add_web_flags(
        up,
        "serve the live page of the lab's health and answers (SSE, docs/web.md) on "
        "http://HOST:PORT/ (default 127.0.0.1:8787; another free port if taken: the "
        "address is printed)",
    )
    up.set_defaults(handler=handle_up)

    drill: argparse.ArgumentParser = sub.add_parser(
        "drill", help="kill a region and measure stale-routing windows", description=DRILL_HELP
    )
    drill.add_argument(
        "scenario", nargs="?", type=Path, help="scenario TOML (default: scenarios/default.toml)"
    )
    drill.add_argument(
        "--ttl", help="service TTLs to run, comma-separated (default: the scenario's), e.g. 5,30"
    )
    drill.add_argument("--clients", type=int, help="number of clients (default: the scenario's)")
    drill.add_argument("--out", type=Path, help="output directory (default: runs/TIMESTAMP)")
    drill.add_argument(
        "--config", type=Path, help="lab.toml to derive the drill lab from (default: ./lab.toml)"
    )
    drill.add_argument(
        "--attach",
        action="store_true",
        help="use the lab already running from `dnslab up --config` (its TTL and check settings)",
    )
    drill.add_argument(
        "--sim",
        action="store_true",
        help="run the same drill on a virtual clock (no processes, seconds of CPU)",
    )
    drill.add_argument(
        "--metrics",
        metavar="HOST:PORT|off",
        help="serve the drill's Prometheus series on http://HOST:PORT/metrics while it runs "
        "(default 127.0.0.1:9310 for live drills, off with --sim); see docs/observability.md",
    )
    drill.add_argument(
        "--metrics-linger",
        type=float,
        default=15.0,
        metavar="S",
        help="after the drill, if anything scraped /metrics, keep serving until one more scrape "
        "is answered (so the last samples reach Prometheus), at most S seconds (default 15)",
    )
    drill.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="seconds per TTL run (default: first fault + the longest bounded model window + "
        "tail, capped at the scenario's max_duration; a run that ends before every bounded "
        "client converged says CUT)",
    )
    drill.add_argument(
        "--no-request-rows",
        action="store_true",
        help="do not write observations.csv (one row per request and resolution: hundreds of "
        "MB for big populations); results.json and the report are unchanged",
    )
    drill.add_argument(
        "--openmetrics",
        type=Path,
        metavar="FILE",
        help="also write the drill's series as timestamped OpenMetrics text (ending now), for "
        "`promtool tsdb create-blocks-from openmetrics FILE DIR` backfill (useful with --sim)",
    )
    add_web_flags(
        drill,
        "serve the live page of the drill (SSE, docs/web.md) on http://HOST:PORT/ "
        "(default 127.0.0.1:8787 for live drills, off with --sim unless given; another free "
        "port if taken: the address is printed)",
    )
    drill.set_defaults(handler=handle_drill)


def handle_up(args: argparse.Namespace) -> int:
    from lab.drill.metrics_server import parse_listen
    from lab.up import run_up
    from lab.web.server import DEFAULT_LISTEN, parse_web_listen

    parse_listen(args.drill_metrics, "--drill-metrics")
    if args.prometheus is not None:
        parse_listen(args.prometheus, "--prometheus", "127.0.0.1:9090")
    web = None if args.no_web else (args.web or DEFAULT_LISTEN)
    if web is not None:
        parse_web_listen(web)
    return run_up(
        args.config, args.logs, args.status_every, args.prometheus, args.drill_metrics, web
    )


def handle_drill(args: argparse.Namespace) -> int:
    import contextlib
    import dataclasses
    import sys

    from lab.config import load_config
    from lab.drill import metrics_server
    from lab.drill.events import EventSink
    from lab.drill.openmetrics import OpenMetricsRecorder
    from lab.drill.runner import (
        DrillOptions,
        config_path,
        parse_ttls,
        prepare_scenario,
        run_drill,
    )
    from lab.up import sigterm_as_interrupt
    from lab.web.server import DEFAULT_LISTEN, parse_web_listen, serving_hub

    web = None if args.no_web or (args.sim and not args.web) else (args.web or DEFAULT_LISTEN)
    if web is not None:
        parse_web_listen(web)  # a bad flag fails before anything starts
    listen = args.metrics or ("off" if args.sim else metrics_server.DEFAULT_LISTEN)
    if listen != "off":
        metrics_server.parse_listen(listen)  # a bad flag fails before anything starts
    opts = DrillOptions(
        scenario=args.scenario,
        ttls=parse_ttls(args.ttl) if args.ttl else None,
        clients=args.clients,
        out=args.out,
        request_rows=not args.no_request_rows,
        duration=args.duration,
        config=args.config,
        attach=args.attach,
        sim=args.sim,
    )
    scenario = prepare_scenario(opts)  # a bad scenario fails before anything is served
    regions = list(load_config(config_path(args.config)).regions)
    sinks: list[EventSink] = []
    with sigterm_as_interrupt(), contextlib.ExitStack() as stack:  # SIGTERM: Ctrl-C's cleanup
        if listen != "off":
            live = stack.enter_context(
                metrics_server.serving(listen, args.metrics_linger, regions, sys.stderr)
            )
            if live is not None:
                sinks.append(live)
        if web is not None:
            meta = {"title": "dnslab — live drill", "regions": regions, "source": "drill"}
            hub = stack.enter_context(serving_hub(web, meta, sys.stderr))
            if hub is not None:
                sinks.append(hub)
        recorder = OpenMetricsRecorder(regions) if args.openmetrics else None
        if recorder is not None:
            sinks.append(recorder)
        opts = dataclasses.replace(opts, sinks=tuple(sinks))
        rc = run_drill(opts, prepared=scenario)
        if recorder is not None:
            n = recorder.write(args.openmetrics)
            print(f"openmetrics: {n} samples in {args.openmetrics}", file=sys.stderr)
        return rc
