"""Longer mutation-fuzz runs against the running servers (the suite runs a few seconds of it).

Starts ``dnslab authoritative`` with the lab's GeoDNS config (lab.toml) and ``dnslab resolver``
in front of it on free loopback ports, then fuzzes each over UDP and TCP for ``--seconds``
(split between them) with the mutator and reply checks of tests/integration/wirefuzz.py:
no crash; every reply has QR, the query's ID and question, and parses under dnspython.

    .venv/bin/python bench/fuzz_servers.py --seconds 600 [--seed 7] [--target auth|resolver|both]

Prints one progress line per round to stderr, a summary to stdout, and every finding (query
and reply in hex, reproducible with the same --seed). Exits 1 if anything was found or a
server died, 0 otherwise. Every process it starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

NAMES = ("www.lab.example.", "static.lab.example.", "lab.example.", "nope.lab.example.")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Mutation-fuzz dnslab authoritative and resolver over UDP and TCP.",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="total run time (60)")
    parser.add_argument("--seed", type=int, default=None, help="RNG seed (default: random)")
    parser.add_argument(
        "--target", choices=("auth", "resolver", "both"), default="both", help="what to fuzz"
    )
    parser.add_argument("--udp", type=int, default=500, help="UDP packets per round (500)")
    parser.add_argument("--tcp", type=int, default=64, help="TCP queries per round (64)")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error("--seconds must be positive")
    if args.udp < 1 or args.tcp < 8:
        parser.error("--udp must be at least 1 and --tcp at least 8")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from lab.procs import ProcessGroup
    from tests.conftest import DNSLAB
    from tests.integration import wirefuzz
    from tests.resolver.peers import start_dnslab_resolver, start_lab_authoritative

    seed = args.seed if args.seed is not None else random.randrange(2**32)
    targets = ("auth", "resolver") if args.target == "both" else (args.target,)
    seeds = wirefuzz.seed_queries(NAMES)
    found: list[wirefuzz.Finding] = []
    died = False
    with tempfile.TemporaryDirectory(prefix="dnslab-fuzz-") as tmp:
        group = ProcessGroup(log_dir=Path(tmp) / "logs")
        try:
            auth, dns_addr, _ = start_lab_authoritative(group, DNSLAB, REPO / "lab.toml")
            servers = {"auth": (auth, dns_addr, 0.3)}
            if "resolver" in targets:
                options = {"upstream-timeout-ms": 200, "outbound-msg-retry": 0}
                resolver, listen, _ = start_dnslab_resolver(group, DNSLAB, dns_addr, options)
                servers["resolver"] = (resolver, listen, 0.6)
            for name in targets:
                child, addr, wait = servers[name]
                host, _, port = addr.rpartition(":")
                total = wirefuzz.Stats()
                end = time.monotonic() + args.seconds / len(targets)
                rounds = 0
                while time.monotonic() < end:
                    try:
                        stats = wirefuzz.run(
                            (host, int(port)), seeds, NAMES[0], child.alive,
                            seed=seed + rounds, rounds=1, udp_per_round=args.udp,
                            tcp_per_round=args.tcp, wait=wait,
                        )  # fmt: skip
                    except AssertionError as exc:
                        print(f"{name}: {exc}\n{child.log_tail()}", file=sys.stderr)
                        died = True
                        break
                    total.add(stats)
                    rounds += 1
                    print(
                        f"{name} round {rounds} (seed {seed + rounds - 1}): sent {total.sent}, "
                        f"replies {total.replies}, silent {total.silent}, "
                        f"findings {len(total.findings)}",
                        file=sys.stderr,
                    )
                found += total.findings
                print(
                    f"{name} {addr}: {rounds} rounds, {total.sent} packets, {total.replies} "
                    f"replies, {total.silent} silent, {len(total.findings)} findings "
                    f"(seeds {seed}..{seed + rounds - 1})"
                )
        finally:
            group.stop_all()
    for f in found[:50]:
        print(f)
    return 1 if found or died else 0


if __name__ == "__main__":
    sys.exit(main())
