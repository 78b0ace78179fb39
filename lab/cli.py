"""The ``dnslab`` command: one console script, one subcommand per job.

Each component owns its subcommands in its own ``cli`` module, which exposes
``register(subparsers)``; the order below is the order ``dnslab --help`` shows them.
Modules must keep heavy imports inside their handlers so ``dnslab --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from lab.errors import LabError

# The one visible list of subcommand providers; every one must import.
PROVIDERS: tuple[str, ...] = (
    "authoritative.cli",  # authoritative, check-zone
    "lab.geo_cli",  # geo-test, explain
    "regions.cli",  # region
    "healthcheck.cli",  # healthcheck
    "resolver.cli",  # resolver
    "lab.run_cli",  # up, drill
    "lab.check_cli",  # check-config, secret
    "lab.sweep_cli",  # sweep
    "lab.web.cli",  # view
    "lab.containers_cli",  # containers config/compose/drill
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dnslab",
        description=(
            "dnslab — a DNS failover and GeoDNS lab. Run an authoritative GeoDNS server, "
            "health checker, caching resolver and regional backends on loopback, inject an "
            "outage and measure how long clients keep being sent to the dead region."
        ),
        epilog="Run 'dnslab COMMAND --help' for the options of one command.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in PROVIDERS:
        # A provider that fails to import is a broken install, not an absent feature: let the
        # ImportError surface instead of silently dropping its subcommands.
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except LabError as exc:
        print(f"dnslab {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
