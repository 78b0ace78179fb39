"""``python -m lab.ready http HOST:PORT/PATH`` or ``dns HOST:PORT``: the compose healthcheck.

Exit 0 when the endpoint answers (lab.procs' readiness checks), 1 otherwise. A module of its
own, not a ``dnslab`` subcommand: Docker runs it every few seconds in every container, and
the full CLI's imports would cost each run several times more CPU.
"""

from __future__ import annotations

import sys

from lab.procs import http_ready, udp_dns_ready


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("http", "dns"):
        print("usage: python -m lab.ready http HOST:PORT/PATH | dns HOST:PORT", file=sys.stderr)
        return 2
    kind, target = argv
    if kind == "http":
        return 0 if http_ready(f"http://{target}")() else 1
    host, _, port = target.rpartition(":")
    return 0 if udp_dns_ready(host, int(port))() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
