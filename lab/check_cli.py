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
collide, the admin_state and health_state files (if present) are valid, the lab secret
(configured, or the per-user default if it exists) is readable only by you, and each SCENARIO fits this lab (regions, faults and
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
        help="show the lab secret in use (the per-user default), write a new one, print a token",
        description=SECRET_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    s.add_argument(
        "path",
        nargs="?",
        type=Path,
        metavar="FILE",
        help="write a new secret here (must not exist)",
    )
    s.add_argument(
        "--config", type=Path, help="lab.toml whose [control] decides (default ./lab.toml)"
    )
    s.add_argument(
        "--token",
        metavar="REGION",
        help="print the bearer token of REGION's fault API (POST /v1/faults on its control port)",
    )
    s.set_defaults(handler=handle_secret)


SECRET_HELP = """\
Without FILE: print which lab secret processes started here use and where it lives, making the
per-user default on first use. The rule (docs/security.md): --secret-file, else env
DNSLAB_SECRET_FILE, else control.secret_file in lab.toml, else (control.auth = "auto", the
default) the per-user default ${XDG_STATE_HOME:-~/.local/state}/dnslab/secret, mode 0600 in a
0700 directory. So every dnslab process one user starts by hand authenticates the others with
no flags; control.auth = "off" runs unauthenticated, "required" refuses the default.

With FILE: write 32 random bytes (hex) to FILE with mode 0600, for a lab of its own or for
containers (mount it read-only and pass --secret-file FILE to every process).

--token REGION prints the bearer token of REGION's fault API under that secret:
  curl -XPOST -H "Authorization: Bearer $(dnslab secret --token eu-west)" \\
       127.0.2.1:9080/v1/faults -d '{"fault": "down"}'
"""


def handle_secret(args: argparse.Namespace) -> int:
    from lab.auth import control_token, generate_secret, read_secret, secret_file

    if args.path is not None:
        if args.token:
            from lab.errors import ConfigError

            raise ConfigError("dnslab secret: give FILE (write a new secret) or --token, not both")
        path = generate_secret(args.path)
        print(f"wrote a lab secret to {path} (mode 0600); pass it with --secret-file {path}")
        return 0
    cfg = _config_if_any(args.config)
    who = "dnslab secret"
    src = cfg.secret_path(None, who) if cfg is not None else secret_file(None, None, "auto", who)
    if src is None:
        print(
            f"{cfg.source if cfg else 'lab.toml'}: control.auth = 'off': no lab secret "
            "(the control plane runs UNAUTHENTICATED)"
        )
        return 1 if args.token else 0
    secret = read_secret(*src)  # checked even when only its place is printed
    if args.token:
        print(control_token(secret, args.token))
    else:
        print(f"{src[0]} ({src[1]})")
    return 0


def _config_if_any(given: Path | None) -> Any:
    """lab.toml from --config or ./lab.toml; None when neither is there (no [control])."""
    from lab.config import load_config

    path = given if given is not None else Path("lab.toml")
    return load_config(path) if given is not None or path.exists() else None


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
        info.append("control plane: " + control_summary(cfg, str(path)))
    except LabError as exc:
        problems.append(f"{path}: control: {exc}")
    return cfg, problems, info


def control_summary(cfg: Any, who: str) -> str:
    """Which secret the lab would use, checked (a ``LabError`` if it is unusable); the per-user
    default is not made here (nothing is started), only checked if it exists."""
    import os

    from lab.auth import DEFAULT_WHERE, read_secret

    src = cfg.secret_path(None, who, create=False)
    if src is None:
        return "auth = 'off': UNAUTHENTICATED (feeds believed from anyone)"
    path, where = src
    if where == DEFAULT_WHERE and not os.path.lexists(path):
        return f"authenticated ({where} {path}, made on first use)"
    read_secret(path, where)
    return f"authenticated ({where} {path})"


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
            if cfg.control.auth == "off":
                print(
                    f"{path}: warning: control.auth = 'off': the control plane is "
                    "UNAUTHENTICATED (any process on a checker's address is believed; "
                    "docs/security.md)"
                )
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
