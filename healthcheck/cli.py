"""``dnslab healthcheck``: probe every region and publish health as a Server-Sent Events feed."""

from __future__ import annotations

import argparse
from typing import Any

from lab.errors import ConfigError

HELP = """\
Probe each region over HTTP(S) (expected status, optional body substring) or TCP connect
every --interval seconds, turn results into up/down with asymmetric thresholds (--fall
failures to go down, --rise successes to come back) and publish the states:
GET /v1/events (Server-Sent Events: snapshot on connect, then one event per change,
Last-Event-ID resume, heartbeats), GET /v1/status (JSON) and GET /metrics (Prometheus).
Regions come from lab.toml ([regions], [checks], [[checkers]]) or from --target flags;
flags override the [checks] values. Run one process per vantage point (distinct --name
and --listen). Defaults and their anchors (gdnsd, Route 53, HAProxy): docs/healthcheck.md.
The control plane is authenticated with the lab secret (--secret-file, DNSLAB_SECRET_FILE,
control.secret_file, else the per-user default ~/.local/state/dnslab/secret that every dnslab
process of this user shares; `dnslab secret` shows it): every event is signed for its
subscriber and every region must prove itself in its health answer (--no-proof for targets
that are not `dnslab region`). control.auth = "off" turns this off (docs/security.md).
"""

# flag → CheckSettings field
OVERRIDES = (
    ("interval", float, "seconds between probe starts (default 2)"),
    ("timeout", float, "probe timeout in seconds (default interval/2, like gdnsd)"),
    ("fall", int, "consecutive failures that mark an up region down (default 3)"),
    ("rise", int, "consecutive successes that bring a down region back (default 2)"),
    ("jitter", float, "spread each interval by ±jitter·interval, 0..0.5 (default 0)"),
    ("kind", str, "default probe kind for targets without a scheme: http, https or tcp"),
    ("path", str, "HTTP path for targets without one (default /healthz)"),
    ("expect_status", int, "HTTP status that counts as healthy (default 200)"),
    ("body_match", str, "substring required in the first 5120 bytes of the body"),
    (
        "initial",
        str,
        "state before the first probe: unknown (default; first result decides), up, down",
    ),
    ("heartbeat", float, "seconds between SSE heartbeat comments (default 1)"),
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "healthcheck", help="probe regions and stream their health (SSE)", description=HELP
    )
    p.add_argument("--config", help="lab.toml (default: ./lab.toml if it exists)")
    p.add_argument("--listen", metavar="HOST:PORT", help="API address (default 127.0.0.1:8054)")
    p.add_argument("--name", help="vantage point name published in every event (default local)")
    p.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="a region to probe: http://h:p/path, https://h:p/path or tcp://h:p (repeatable)",
    )
    for field, typ, text in OVERRIDES:
        p.add_argument("--" + field.replace("_", "-"), dest=field, type=typ, help=text)
    p.add_argument("--insecure", action="store_true", help="https: do not verify certificates")
    p.add_argument(
        "--no-proof",
        dest="no_proof",
        action="store_true",
        help="do not require the region's signed /healthz answer (targets that are not "
        "`dnslab region`; checks.proof = false)",
    )
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        help="the lab secret: sign the feed, require region proofs (docs/security.md)",
    )
    p.set_defaults(handler=handle)


def resolve(args: argparse.Namespace) -> tuple[str, str, Any, list[Any], bytes | None]:
    """(name, listen, settings, targets, secret) from lab.toml and flags; flags win."""
    import dataclasses

    from pydantic import ValidationError

    from healthcheck.probe import parse_target, target_from_url
    from healthcheck.settings import CheckSettings
    from lab.auth import derive, load_secret

    cfg = _load_config(args.config)
    flag = getattr(args, "secret_file", None)
    if cfg is not None:
        secret = cfg.secret(flag, "dnslab healthcheck")
    else:
        secret = load_secret(flag, None, "auto", "dnslab healthcheck")
    base = cfg.checks if cfg is not None else CheckSettings()
    overrides = {f: getattr(args, f) for f, _, _ in OVERRIDES if getattr(args, f) is not None}
    if args.insecure:
        overrides["verify_tls"] = False
    if getattr(args, "no_proof", False):
        overrides["proof"] = False
    try:
        settings = CheckSettings.model_validate({**base.model_dump(), **overrides})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        where = f"--{field.replace('_', '-')}" if field else "checks"
        raise ConfigError(f"{where}: {err['msg']}") from None
    name, listen = args.name or "local", args.listen
    if cfg is not None:
        known = {c.name: c for c in cfg.checkers}
        if args.name is None and cfg.checkers:
            name = cfg.checkers[0].name
        if listen is None and name in known:
            listen = known[name].listen
    if args.target:
        targets = [parse_target(t, settings) for t in args.target]
    elif cfg is not None:
        targets = [
            target_from_url(r, cfg.check_url(r), settings, f"{cfg.source}: regions.{r}")
            for r, reg in cfg.regions.items()
            if reg.check or reg.listen
        ]
    else:
        targets = []
    if not targets:
        raise ConfigError(
            "no regions to check: pass --target NAME=URL or a lab.toml with [regions]"
        )
    names = [t.region for t in targets]
    if len(set(names)) != len(names):
        raise ConfigError(f"--target: a region is named twice in {names}")
    if secret is not None and settings.proof:
        targets = [
            t if t.kind == "tcp" else dataclasses.replace(t, key=derive(secret, "region", t.region))
            for t in targets
        ]
    return name, listen or "127.0.0.1:8054", settings, targets, secret


def _load_config(path: str | None) -> Any:
    from lab.config import default_config_path, load_config

    if path:
        return load_config(path)
    default = default_config_path()
    return load_config(default) if default is not None else None


def handle(args: argparse.Namespace) -> int:
    import asyncio

    from healthcheck.runner import run_checker
    from lab.auth import derive
    from regions.serving import parse_hostport

    name, listen, settings, targets, secret = resolve(args)
    key = derive(secret, "checker", name) if secret is not None else None
    asyncio.run(run_checker(name, parse_hostport(listen, "--listen"), settings, targets, key))
    return 0
