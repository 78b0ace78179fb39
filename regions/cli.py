"""``dnslab region``: one simulated regional backend per process."""

from __future__ import annotations

import argparse
from typing import Any

HELP = """\
Run one regional backend (FastAPI on uvicorn). GET / answers JSON {region, instance, pid}
with header X-Region; GET /healthz is the health endpoint; GET /metrics is Prometheus.
The fault API (GET/POST /v1/faults: down, hang, slow, error-rate, flap, healthz-only, clear)
is served on the --control port only, a port that is never faulted and stays open under
'down' (which really closes the listening socket). POST /v1/faults needs the region's bearer
token (`dnslab secret --token NAME`) and /healthz proves the region to the checker, both from
the lab secret: --secret-file, else DNSLAB_SECRET_FILE, else the per-user default
~/.local/state/dnslab/secret every dnslab process of this user shares (docs/security.md).
See docs/regions.md.
"""


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "region", help="run a simulated regional backend with injectable faults", description=HELP
    )
    p.add_argument("--name", required=True, help="region name, e.g. eu-west")
    p.add_argument("--listen", required=True, metavar="ADDR:PORT", help="e.g. 127.0.2.1:8080")
    p.add_argument(
        "--control",
        metavar="ADDR:PORT",
        help="side port serving the same API without faults; it stays open under 'down'",
    )
    p.add_argument(
        "--tls-cert", metavar="PEM", help="serve HTTPS on --listen with this certificate"
    )
    p.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    p.add_argument(
        "--secret-file",
        metavar="PATH",
        help="the lab secret: prove /healthz answers, require the fault API token",
    )
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import asyncio

    from lab.auth import load_secret
    from lab.errors import ConfigError
    from regions.runner import run_region
    from regions.serving import parse_hostport, server_tls

    listen = parse_hostport(args.listen, "--listen")
    control = parse_hostport(args.control, "--control") if args.control else None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    tls = server_tls(args.tls_cert, args.tls_key) if args.tls_cert else None
    secret = load_secret(args.secret_file, None, "auto", "dnslab region")
    asyncio.run(run_region(args.name, listen, control, tls, secret))
    return 0
