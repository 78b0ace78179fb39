"""``dnslab check-config``: check lab.toml (and scenarios) the way the lab would use them;
``dnslab secret``: write a lab secret for scripts and containers (docs/security.md).

Nothing is started. Problems are collected, not stopped at: each is one line naming the file
and the field (``lab.toml: services.www.order.eu[1]: unknown region ...``); the exit status is
1 if there is any. Scenario rules are ``lab.drill.validate`` (the same check ``dnslab drill``
and ``dnslab sweep`` make); lab.toml rules are ``lab.config`` plus what only files can tell.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

HELP = """\
Check lab.toml and drill/sweep scenarios without starting anything: every key and cross
reference (lab.config), the zone files load and hold every service name, listeners do not
collide, the admin_state and health_state files (if present) are valid, the lab secret (if
configured) is readable only by you, and each SCENARIO fits this lab (regions, faults and
their parameters, locations, client profiles). Prints one line per problem, naming the file
and the field; exit status 1 if there is any. docs/config.md, docs/drills.md.
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check-config",
        help="check lab.toml and scenarios (names every bad field)",
        description=HELP,
    )
    p.add_argument("--config", type=Path, help="lab.toml (default: ./lab.toml)")
    p.add_argument("scenarios", nargs="*", type=Path, metavar="SCENARIO", help="scenario TOML")
    p.set_defaults(handler=handle)
    s: argparse.ArgumentParser = sub.add_parser(
        "secret",
        help="write a new lab secret (mode 0600) for the authenticated control plane",
        description=SECRET_HELP,
    )
    s.add_argument("path", type=Path, metavar="FILE", help="where to write it (must not exist)")
    s.set_defaults(handler=handle_secret)


SECRET_HELP = """\
Write 32 random bytes (hex) to FILE with mode 0600. Give the same file to every process of
one lab (--secret-file FILE, env DNSLAB_SECRET_FILE, or control.secret_file in lab.toml): the
checkers sign their event streams with it, regions prove their health answers and their fault
APIs take a token derived from it. `dnslab up` makes one per run by itself; use this for
processes started by hand or in containers (mount the file read-only). docs/security.md.
"""


def handle_secret(args: argparse.Namespace) -> int:
    from lab.auth import generate_secret

    path = generate_secret(args.path)
    print(f"wrote a lab secret to {path} (mode 0600); pass it with --secret-file {path}")
    return 0


def lab_problems(path: Path) -> tuple[Any, list[str], list[str]]:
    """(config or None, problems, summary lines) for one lab.toml."""
    from authoritative.geo_zones import read_admin_state, service_problems
    from authoritative.health_store import decode, read
    from authoritative.zonefile import load_zones
    from lab.config import load_config
    from lab.errors import LabError

    try:
        cfg = load_config(path)
    except LabError as exc:
        return None, str(exc).splitlines(), []
    problems: list[str] = []
    info = [
        f"{len(cfg.regions)} regions, {len(cfg.checkers)} checkers, "
        f"{len(cfg.services)} services, {len(cfg.locations)} locations"
    ]
    a = cfg.authoritative
    try:
        zones = load_zones([f"{o}={cfg.path(p)}" for o, p in a.zones.items()])
    except LabError as exc:
        problems.extend(f"{path}: authoritative.zones: {line}" for line in str(exc).splitlines())
    else:
        problems.extend(service_problems(cfg, zones))
        info.append("zones: " + (", ".join(z.to_text() for z in zones) or "none"))
    if a.admin_state:
        try:
            read_admin_state(cfg.path(a.admin_state), cfg.regions)
        except LabError as exc:
            problems.append(f"{path}: authoritative.admin_state: {exc}")
    if a.health_state:
        hs = cfg.path(a.health_state)
        try:
            saved = read(hs)
            if saved is not None:
                decode(saved, str(hs), tuple(c.name for c in cfg.checkers), tuple(cfg.regions))
        except LabError as exc:
            problems.append(f"{path}: authoritative.health_state: {exc}")
    try:
        secret = cfg.secret(None, str(path))
    except LabError as exc:
        problems.append(f"{path}: control: {exc}")
    else:
        info.append(
            "control plane: "
            + (
                "authenticated (lab secret)"
                if secret
                else f"auth = {cfg.control.auth!r}, no secret"
            )
            + ("" if secret or cfg.control.auth == "off" else " (dnslab up makes one per run)")
        )
    return cfg, problems, info


def handle(args: argparse.Namespace) -> int:
    from lab.drill.runner import config_path
    from lab.drill.validate import check_scenario_file
    from lab.errors import LabError

    path = config_path(args.config)
    cfg, problems, info = lab_problems(path)
    for line in problems:
        print(line)
    if not problems:
        print(f"{path}: ok ({'; '.join(info)})")
        if cfg is not None:
            from lab.config_refs import not_loopback

            for line in not_loopback(cfg):
                print(f"{path}: warning: {line}")
    bad = bool(problems)
    for sc_path in args.scenarios:
        if cfg is None:
            print(f"{sc_path}: not checked: {path} has errors")
            bad = True
            continue
        try:
            sc = check_scenario_file(sc_path, cfg)
        except LabError as exc:
            print(str(exc))
            bad = True
        else:
            print(f"{sc_path}: ok ({len(sc.faults)} fault steps, TTLs {sc.ttls})")
    return 1 if bad else 0
