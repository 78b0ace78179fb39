"""``dnslab authoritative`` (serve zones over UDP+TCP) and ``dnslab check-zone``."""

from __future__ import annotations

import argparse
import socket
import sys
from typing import TYPE_CHECKING, Any

from lab.errors import ConfigError

if TYPE_CHECKING:
    from authoritative.settings import ServerSettings

DEFAULT_LISTEN = "127.0.0.1:5300"


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "authoritative",
        help="serve zone files as an authoritative DNS server (UDP and TCP)",
        description=(
            "Serve RFC 1035 master files authoritatively over UDP and TCP on one port. "
            "Answers follow RFC 1034 §4.3.2 the way Knot DNS 3.2 does (CNAME chasing inside "
            "a zone, wildcards, referrals with glue, NXDOMAIN/NODATA with the SOA); EDNS0 "
            "with a 1232-byte payload; ECS parsed for GeoDNS names. Prints 'ready "
            "authoritative HOST:PORT' once serving; exits 0 on SIGTERM/SIGINT."
        ),
    )
    serve.add_argument(
        "--zone",
        action="append",
        default=[],
        metavar="FILE|ORIGIN=FILE",
        help=(
            "a master file to serve; the origin comes from its $ORIGIN or from ORIGIN=. "
            "Repeat for more zones. Optional when --config lists zones."
        ),
    )
    serve.add_argument(
        "--listen",
        default=None,
        metavar="HOST:PORT",
        help=f"UDP+TCP address (default: authoritative.listen of --config, else {DEFAULT_LISTEN})",
    )
    serve.add_argument(
        "--config", metavar="LAB_TOML", help="lab.toml: GeoDNS services (see docs/geo)"
    )
    serve.add_argument(
        "--admin", metavar="HOST:PORT", help="admin HTTP API address (GeoDNS; see docs/geo)"
    )
    serve.add_argument(
        "--secret-file",
        metavar="PATH",
        help="lab secret: accept only health feeds signed by the checkers (default: "
        "DNSLAB_SECRET_FILE, control.secret_file, else the per-user default "
        "~/.local/state/dnslab/secret; control.auth = 'off' believes any feed; docs/security.md)",
    )
    serve.add_argument(
        "--health-state",
        metavar="PATH",
        help="save the health view here and restore it on start (authoritative.health_state)",
    )
    serve.add_argument(
        "--identity",
        default=None,
        help="CH TXT id.server answer and NSID (default: the host name, as Knot)",
    )
    serve.add_argument(
        "--server-version",
        default=None,
        help="CH TXT version.bind answer (default: dnslab VERSION)",
    )
    limits = serve.add_argument_group(
        "limits",
        "Each also reads from [authoritative] in --config (the flag wins); defaults follow "
        "Knot DNS 3.2 where it has the same knob (docs/authoritative.md).",
    )
    limits.add_argument(
        "--tcp-idle-timeout",
        type=float,
        metavar="SECONDS",
        help="close a TCP connection with no whole message for this long (default 10)",
    )
    limits.add_argument(
        "--tcp-io-timeout",
        type=float,
        metavar="SECONDS",
        help=(
            "time to receive one whole message once its first byte arrived; partial data "
            "never extends it (default 0.5, Knot's tcp-io-timeout)"
        ),
    )
    limits.add_argument(
        "--tcp-max-connections",
        type=int,
        metavar="N",
        help=(
            "concurrent TCP connections (default 256); at the bound the oldest idle one is "
            "closed for a newcomer, and a newcomer is closed when none is idle"
        ),
    )
    limits.add_argument(
        "--tcp-max-per-source",
        type=int,
        metavar="N",
        help="concurrent TCP connections from one address (default 64)",
    )
    limits.add_argument(
        "--rrl-rate-limit",
        type=int,
        metavar="N",
        help=(
            "response rate limiting over UDP (Knot's mod-rrl): N replies a second per bucket "
            "(source /24 or /56, response class, name); off unless given or [authoritative.rrl]"
        ),
    )
    limits.add_argument(
        "--rrl-slip",
        type=int,
        metavar="N",
        help="with RRL: every Nth limited reply goes out truncated (TC=1); 0 drops all (default 1)",
    )
    limits.add_argument(
        "--transfer-allow",
        action="append",
        metavar="ADDRESS|NETWORK",
        help=(
            "allow AXFR/IXFR from this address or network (repeat for more); without it every "
            "zone transfer is refused with NOTAUTH, as Knot with no ACL"
        ),
    )
    limits.add_argument(
        "--cache-entries",
        type=int,
        metavar="N",
        help="entries per wire cache, least recently used evicted first (default 200000)",
    )
    limits.add_argument(
        "--cache-bytes",
        type=int,
        metavar="BYTES",
        help="estimated bytes of all wire caches together (default 67108864 = 64 MiB)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help=(
            "answer with N processes sharing the address (SO_REUSEPORT; default 1). The "
            "first one also runs the admin API and the health feeds and hands every health "
            "change to the others, so all answer from one health view; /metrics sums them"
        ),
    )
    serve.set_defaults(handler=run_server)

    check = subparsers.add_parser(
        "check-zone",
        help="check a zone file and print a summary (exit 1 with file:line problems)",
        description=(
            "Load a master file exactly as 'dnslab authoritative' would and check it: syntax, "
            "SOA and NS at the origin, CNAME beside other data, out-of-zone data (errors), "
            "missing glue (warning). Prints 'OK <origin> <n> records' on success."
        ),
    )
    check.add_argument("zone", metavar="FILE|ORIGIN=FILE")
    check.set_defaults(handler=run_check)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"--listen {text!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]") or "127.0.0.1", int(port)


FLAG_SETTINGS = (
    "tcp_idle_timeout",
    "tcp_io_timeout",
    "tcp_max_connections",
    "tcp_max_per_source",
    "cache_entries",
    "cache_bytes",
    "transfer_allow",
)


def server_settings(args: argparse.Namespace) -> ServerSettings:
    """[authoritative] of --config (or the defaults) with the flags given on top."""
    from pydantic import ValidationError

    from authoritative.settings import ServerSettings

    base = ServerSettings()
    if args.config:
        from lab.config import load_config

        base = load_config(args.config).authoritative
    given: dict[str, Any] = {
        k: getattr(args, k) for k in FLAG_SETTINGS if getattr(args, k, None) is not None
    }
    rrl = {} if base.rrl is None else base.rrl.model_dump()
    for flag, key in (("rrl_rate_limit", "rate_limit"), ("rrl_slip", "slip")):
        if getattr(args, flag, None) is not None:
            rrl[key] = getattr(args, flag)
    if rrl:
        if "rate_limit" not in rrl:
            raise ConfigError("--rrl-slip: needs --rrl-rate-limit N (or [authoritative.rrl])")
        given["rrl"] = rrl
    values = {k: getattr(base, k) for k in ServerSettings.model_fields} | given
    try:
        return ServerSettings.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = [str(part) for part in err["loc"]]
        flag = "--" + "-".join(loc[:2] if loc[0] == "rrl" else loc[:1]).replace("_", "-")
        raise ConfigError(f"{flag}: {err['msg']} (got {err.get('input')!r})") from None


def run_check(args: argparse.Namespace) -> int:
    from authoritative.zonefile import load_zone, parse_zone_arg

    origin, path = parse_zone_arg(args.zone)
    loaded = load_zone(path, origin)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    zone = loaded.zone
    print(f"OK {zone.origin} {zone.records} records")
    return 0


def run_server(args: argparse.Namespace) -> int:

    from importlib.metadata import version

    import uvloop
    from prometheus_client import CollectorRegistry

    from authoritative.engine import Engine
    from authoritative.metrics import Metrics
    from authoritative.server import AuthoritativeServer, ServerLimits, serve_until_signal
    from authoritative.state import ServingState, chaos_names
    from authoritative.zonefile import load_zones

    settings = server_settings(args)
    if args.listen is None:
        args.listen = DEFAULT_LISTEN
        if args.config:
            from lab.config import load_config

            args.listen = load_config(args.config).authoritative.listen
    host, port = parse_listen(args.listen)
    if not args.zone and not args.config:
        raise ConfigError(
            "give at least one --zone FILE|ORIGIN=FILE, or --config lab.toml with zones"
        )
    if args.workers < 1:
        raise ConfigError(f"--workers {args.workers}: must be at least 1")
    zones = load_zones(args.zone, warn=lambda w: print(w, file=sys.stderr))
    identity = args.identity if args.identity is not None else socket.gethostname()
    server_version = args.server_version
    if server_version is None:
        server_version = f"dnslab {version('dnslab')}"
    chaos = chaos_names(identity, server_version)
    geo = bool(args.config or args.admin)

    def build() -> tuple[AuthoritativeServer, CollectorRegistry, ServingState]:
        state = ServingState(zones, chaos=chaos)
        registry = CollectorRegistry()
        engine = Engine(
            state,
            Metrics(registry),
            cache_size=settings.cache_entries,
            nsid=identity.encode()[:255],
            cache_bytes=settings.cache_bytes,
            transfer_allow=settings.transfer_allow,
        )
        return AuthoritativeServer(engine, ServerLimits.from_settings(settings)), registry, state

    pool = None
    if args.workers > 1:  # fork before any event loop: the zones are shared copy-on-write
        from authoritative.workers import follow_geo, follow_static, fork_workers, reserve_port

        try:
            port, held = reserve_port(host, port)
        except OSError as exc:
            raise ConfigError(
                f"--listen {args.listen}: cannot bind: {exc.strerror or exc}"
            ) from None

        def worker(index: int, down: int, up: int) -> int:
            for s in held:
                s.close()
            server, registry, state = build()
            if geo:
                uvloop.run(follow_geo(server, host, port, args, registry, state, down, up))
            else:
                uvloop.run(follow_static(server, host, port, down, up))
            return 0

        pool = fork_workers(args.workers, worker)
        pool.held = held
    server, registry, state = build()
    try:
        if geo:  # GeoDNS services and the admin API (engineer geo)
            from authoritative.admin import serve_geo

            uvloop.run(serve_geo(server, host, port, args, registry, state, pool))
        else:
            uvloop.run(serve_until_signal(server, host, port, "authoritative", pool))
    except OSError as exc:
        raise ConfigError(f"--listen {args.listen}: cannot bind: {exc.strerror or exc}") from None
    finally:
        if pool is not None:
            pool.stop()
    return 0
