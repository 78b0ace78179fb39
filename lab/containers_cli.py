"""``dnslab containers``: the compose lab's helpers (docs/containers.md).

``config`` (the compose ``config`` service) writes the containers' lab.toml and prometheus.yml
from the repository's lab.toml; ``compose`` renders compose.yaml; ``drill`` runs a drill inside the compose lab with container-level faults.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

HELP = """\
The lab as containers (compose.yaml). `config` derives the containers' lab.toml and
prometheus.yml from lab.toml (+ a scenario's TTL and check settings); `compose` prints or
checks compose.yaml; `drill` runs a scenario inside the compose lab
(docker-compose run --rm drill) with container faults: container-kill, pause,
partition-checkers, partition-clients, netem, heal.
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "containers", help="the compose lab: config, compose.yaml, drills", description=HELP
    )
    csub = p.add_subparsers(dest="containers_command", metavar="SUBCOMMAND", required=True)

    cfg = csub.add_parser("config", help="write the containers' lab.toml and prometheus.yml")
    cfg.add_argument(
        "--from", dest="source", type=Path, required=True, help="lab.toml to derive from"
    )
    cfg.add_argument("--out", type=Path, required=True, help="directory to write into")
    cfg.add_argument(
        "--scenario", default="", help="take TTL (first), checks, resolver knobs from it"
    )
    cfg.add_argument("--ttl", default="", help="service TTL (default: the scenario's first)")
    cfg.set_defaults(handler=handle_config)

    comp = csub.add_parser("compose", help="print compose.yaml rendered from lab.toml")
    comp.add_argument("--config", type=Path, default=Path("lab.toml"), help="default ./lab.toml")
    comp.add_argument(
        "--check", type=Path, metavar="COMPOSE_YAML", help="exit 1 if this file differs"
    )
    comp.set_defaults(handler=handle_compose)

    drill = csub.add_parser("drill", help="run a drill inside the compose lab")
    drill.add_argument("scenario", type=Path)
    drill.add_argument("--config", type=Path, required=True, help="the containers' lab.toml")
    drill.add_argument("--out", type=Path, required=True)
    drill.set_defaults(handler=handle_drill)


def handle_config(args: argparse.Namespace) -> int:
    from lab.containers import write_config
    from lab.drill.runner import parse_ttls
    from lab.drill.scenario import load_scenario

    sc = load_scenario(Path(args.scenario)) if args.scenario else None
    ttl = parse_ttls(args.ttl)[0] if args.ttl else (sc.ttls[0] if sc else None)
    lab, prom = write_config(
        args.source, args.out, ttl, sc.checks if sc else None, sc.resolver if sc else None
    )
    print(
        f"wrote {lab} and {prom} from {args.source}" + (f" (TTL {ttl})" if ttl is not None else "")
    )
    return 0


def handle_compose(args: argparse.Namespace) -> int:
    from lab.containers import render_compose
    from lab.drill.sim import load_lab

    text = render_compose(load_lab(args.config)[0])
    if args.check is None:
        sys.stdout.write(text)
        return 0
    if args.check.read_text() != text:
        print(
            f"{args.check} is stale: regenerate with "
            f"`dnslab containers compose --config {args.config} > {args.check}`",
            file=sys.stderr,
        )
        return 1
    return 0


def local_routes(nets: list[str]) -> None:
    """Route the client locations' /24s to this container (clients bind any address in them)."""
    from lab.errors import ConfigError

    for net in nets:
        done = subprocess.run(
            ["ip", "route", "replace", "local", net, "dev", "lo"], capture_output=True, text=True
        )
        if done.returncode != 0:
            raise ConfigError(
                f"ip route replace local {net} dev lo: {done.stderr.strip()} "
                "(the drill container needs cap_add NET_ADMIN)"
            )


def handle_drill(args: argparse.Namespace) -> int:
    from lab.container_faults import ContainerInjector, Engine, own_project
    from lab.containers import DRILL_METRICS_PORT, plan
    from lab.drill import metrics_server
    from lab.drill.runner import DrillOptions, run_drill
    from lab.drill.sim import load_lab

    lab_plan = plan(load_lab(args.config)[0])
    local_routes([str(n) for n in lab_plan.locations.values()])
    engine = Engine()
    injector = ContainerInjector(lab_plan, own_project(engine), engine)
    regions = [r.name for r in lab_plan.regions]
    # the drill's series for the compose Prometheus (job drill); on the lab network only
    exporter = metrics_server.serving(
        f"0.0.0.0:{DRILL_METRICS_PORT}", metrics_server.DEFAULT_LINGER_S, regions, sys.stderr
    )
    try:
        with exporter as sink:
            opts = DrillOptions(
                scenario=args.scenario,
                out=args.out,
                config=args.config,
                attach=True,
                injector=lambda _cfg: injector,
                sinks=(sink,) if sink is not None else (),
            )
            return run_drill(opts)
    finally:
        for line in injector.heal_all():  # never leave the lab partitioned or paused
            print(f"after the drill: {line}", file=sys.stderr)
        engine.close()
