"""``dnslab resolver``: the caching stub resolver (UDP+TCP), with /metrics."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lab.errors import ConfigError
from resolver.settings import ResolverSettings

HELP = """\
A caching stub resolver in front of one upstream (normally `dnslab authoritative`).
It behaves like Unbound's cache and lets you switch each behaviour on or off: TTL clamps
(cache-min-ttl, cache-max-ttl, cache-max-negative-ttl), negative caching (RFC 2308),
prefetch, serve-expired (RFC 8767), serve-original-ttl, an LRU size bound and EDNS Client
Subnet forwarding with scope-aware caching (RFC 7871). TTLs count whole seconds as
Unbound's do (ttl-clock = seconds; `exact` is the option).

Like Unbound it answers loopback only unless access-control says otherwise
(-o access-control="10.0.0.0/8 allow", once per rule; actions allow, allow_snoop,
allow_setrd, refuse, deny), caps UDP replies at max-udp-size (4096; TC beyond), drops
responses (QR=1), refuses RD=0, non-IN classes and zone transfers, and holds at most
incoming-num-tcp TCP connections (10), each with a deadline (tcp-idle-timeout) per query.

Options come from the [resolver] table of lab.toml (Unbound's option names, e.g.
`serve-expired = true`) and can be overridden with --option NAME=VALUE. See
docs/resolver.md."""


REPEATABLE = {"access-control"}  # options given once per rule; -o NAME=... again adds one


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "resolver",
        help="run the caching stub resolver",
        description=HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--upstream", metavar="HOST:PORT", help="upstream server (127.0.0.1:5300)")
    p.add_argument("--listen", metavar="HOST:PORT", help="UDP+TCP address (127.0.0.1:5301)")
    p.add_argument("--config", metavar="lab.toml", type=Path, help="read the [resolver] table")
    p.add_argument("--metrics", metavar="HOST:PORT", help="serve /metrics here (127.0.0.1:9301)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="N processes on the same address (SO_REUSEPORT), each its own cache "
        "(option num-threads; default 1)",
    )
    p.add_argument(
        "-o",
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set one option, Unbound spelling (e.g. -o serve-expired=yes -o cache-min-ttl=5)",
    )
    p.add_argument(
        "--print-settings",
        action="store_true",
        help="print the effective options (after like=, lab.toml and flags) as TOML and exit",
    )
    p.set_defaults(handler=run)


def load_settings(
    config: Path | None, overrides: dict[str, Any], options: list[str]
) -> ResolverSettings:
    """The [resolver] table of ``config``, then ``--option``s, then the address flags.

    Errors read like lab.toml's (lab/config_report.py): ``SOURCE: resolver.FIELD: problem``.
    """
    import tomllib

    from pydantic import BaseModel, ConfigDict, ValidationError

    from lab.config_report import format_validation_error

    class Table(BaseModel):  # only the slice this command reads
        model_config = ConfigDict(extra="ignore")
        resolver: ResolverSettings

    data: dict[str, Any] = {}
    where = "command line"
    if config is not None:
        where = str(config)
        try:
            doc = tomllib.loads(config.read_text())
        except OSError as exc:
            raise ConfigError(f"{config}: cannot read config: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config}: not valid TOML: {exc}") from None
        table = doc.get("resolver", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{config}: resolver: expected a table [resolver]")
        data.update(table)
    for item in options:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--option {item!r}: write NAME=VALUE, e.g. -o prefetch=yes")
        key = name.strip()
        if key.replace("_", "-") in REPEATABLE:  # one rule per -o, as one per line in Unbound
            rules = data.get(key)
            data[key] = [*(rules if isinstance(rules, list) else [rules] if rules else [])]
            data[key].append(value.strip())
        else:
            data[key] = _option_value(value.strip())
    if options:
        where += " and --option"
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Table.model_validate({"resolver": data}).resolver
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, where, Table)) from None


def _option_value(text: str) -> Any:
    low = text.lower()
    if low in ("yes", "true", "on"):
        return True
    if low in ("no", "false", "off"):
        return False
    return int(text) if text.lstrip("-").isdigit() else text


def run(args: argparse.Namespace) -> int:
    import uvloop

    from resolver.service import serve

    settings = load_settings(
        args.config,
        {
            "upstream": args.upstream,
            "listen": args.listen,
            "metrics_listen": args.metrics,
            "num_threads": args.workers,
        },
        args.option,
    )
    if args.print_settings:
        print(settings_toml(settings), end="")
        return 0
    return uvloop.run(serve(settings))  # the event loop the authoritative server runs on too


def settings_toml(settings: ResolverSettings) -> str:
    """The effective [resolver] table in Unbound's spelling (readable back by lab.toml)."""
    import json

    lines = ["[resolver]"]
    for name, value in settings.model_dump(by_alias=True).items():
        if value is None:
            lines.append(f"# {name} = (unset)")
        elif isinstance(value, bool):
            lines.append(f"{name} = {'true' if value else 'false'}")
        elif isinstance(value, int):
            lines.append(f"{name} = {value}")
        elif isinstance(value, list):
            lines.append(f"{name} = {json.dumps(value)}")
        else:
            lines.append(f'{name} = "{value}"')
    return "\n".join(lines) + "\n"
