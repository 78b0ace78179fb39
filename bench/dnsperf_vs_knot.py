"""Throughput and server CPU per query of dnslab's authoritative server next to Knot DNS
(and dnslib's built-in server as the floor), driven by dnsperf, scenario by scenario.

Scenarios (``--scenario``, comma-separated; default all):

- ``static``: the zones of ``tests/data/differential/`` and ``bench/queries.txt`` (positive,
  wildcard, NXDOMAIN, NODATA and referral queries); Knot, dnslab, dnslib's ZoneResolver;
- ``nxdomain``: 1,000 distinct names that do not exist in those zones; the same three;
- ``geo-ecs``: ``www.lab.example`` A with ECS from four client subnets (na, eu, ap and one in
  no location) in turn: dnslab with ``lab.toml`` against Knot with ``mod-geoip`` in subnet
  mode on a map generated from the same ``lab.toml`` (every region up);
- ``geo-source``: the same name without ECS, sent from an eu source address (dnsperf -a).

Every server gets one worker (knotd: one UDP and one TCP worker). Per round each server of a
scenario is started fresh and measured in turn, so ours and the reference take turns in one
run; ``--rounds`` repeats that. The server's CPU time (all threads, /proc) is read around
each run: **server CPU µs per answered query** is the figure a shared machine moves least.

    .venv/bin/python bench/dnsperf_vs_knot.py [--scenario static,geo-ecs] [--duration 10]
        [--clients 10] [--rounds 1] [--qps 0] [--only knot|dnslab|dnslib]

``make bench`` runs it with the defaults. Results go to stdout (Markdown tables and ratio
lines); record them in ``docs/benchmarks.md`` with the command and the date.
"""

from __future__ import annotations

import argparse
import functools
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

QUERIES = REPO / "bench" / "queries.txt"


@dataclass(frozen=True)
class Result:
    server: str
    qps: float
    avg_latency_ms: float
    max_latency_ms: float
    stddev_ms: float
    sent: int
    lost: int
    rcodes: str
    cpu_us_per_query: float  # server CPU (user+system, all threads) per answered query


SCENARIOS = ("static", "nxdomain", "geo-ecs", "geo-source")
FLOOR_SCENARIOS = ("static", "nxdomain")  # dnslib's ZoneResolver knows no GeoDNS
# geo-ecs: one ECS subnet per lab.toml location, plus one in no location (the default order)
GEO_SUBNETS = ("127.1.0.0/24", "127.2.0.0/24", "127.3.0.0/24", "10.9.8.0/24")
GEO_SOURCE = "127.2.0.53"  # geo-source: an eu client by its source address
GEO_NAME = "www.lab.example."


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dnsperf_vs_knot.py",
        description=(
            "Run Knot DNS, dnslab authoritative and dnslib's server (one worker each) on "
            "loopback, scenario by scenario (static zones, NXDOMAIN, GeoDNS by ECS, GeoDNS by "
            "source address; Knot with mod-geoip for the geo ones), drive each with dnsperf "
            "using identical settings, and print q/s, latency, server CPU per query and the "
            "ratios dnslab/Knot and dnslab/dnslib measured side by side."
        ),
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per server (-l)")
    parser.add_argument("--clients", type=int, default=10, help="dnsperf clients (-c)")
    parser.add_argument("--outstanding", type=int, default=100, help="max queries in flight (-q)")
    parser.add_argument(
        "--qps", type=int, default=0, help="cap on queries per second (-Q); 0 = as fast as possible"
    )
    parser.add_argument(
        "--queries",
        type=Path,
        default=QUERIES,
        help="dnsperf data file of the static scenario (name type per line)",
    )
    parser.add_argument(
        "--latency-qps",
        type=int,
        default=0,
        help="a second run per server at this fixed rate, for unsaturated latency; 0 = skip",
    )
    parser.add_argument(
        "--mode", choices=("udp", "tcp"), default="udp", help="dnsperf transport (-m)"
    )
    parser.add_argument(
        "--only", choices=("knot", "dnslab", "dnslib"), help="benchmark one server only"
    )
    parser.add_argument(
        "--scenario",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="measure every server this many times, in turn"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="dnslab --workers (Knot keeps one worker)"
    )
    parser.add_argument(
        "--udp-path",
        choices=("auto", "python"),
        default="auto",
        help="dnslab's UDP path: auto = recvmmsg/sendmmsg through the C extension when built; "
        "python = recvfrom/sendto per datagram (DNSLAB_UDPBATCH=0)",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients <= 0 or args.outstanding <= 0 or args.rounds <= 0:
        parser.error("--duration, --clients, --outstanding and --rounds must be > 0")
    if args.qps < 0 or args.latency_qps < 0 or args.workers < 1:
        parser.error("--qps and --latency-qps must be >= 0, --workers >= 1")
    if not args.queries.is_file():
        parser.error(f"--queries {args.queries}: no such file")
    args.scenarios = tuple(x.strip() for x in args.scenario.split(",") if x.strip())
    unknown = [x for x in args.scenarios if x not in SCENARIOS]
    if unknown or not args.scenarios:
        parser.error(f"--scenario {args.scenario!r}: choose from {', '.join(SCENARIOS)}")
    return args


@dataclass(frozen=True)
class Scenario:
    name: str
    queries: Path  # dnsperf -d
    binary: bool = False  # -B: raw wire queries (with ECS), dnsperf adds no EDNS of its own
    source: str | None = None  # -a: the source address dnsperf sends from


def dnsperf_argv(
    dnsperf: str, port: int, args: argparse.Namespace, qps: int, scenario: Scenario | None = None
) -> list[str]:
    queries = args.queries if scenario is None else scenario.queries
    argv = [dnsperf, "-s", "127.0.0.1", "-p", str(port), "-d", str(queries)]
    argv += ["-c", str(args.clients), "-l", str(args.duration), "-q", str(args.outstanding)]
    argv += ["-T", "1", "-m", args.mode]
    if scenario is not None and scenario.binary:
        argv += ["-B"]
    else:
        argv += ["-e"]
    if scenario is not None and scenario.source:
        argv += ["-a", scenario.source]
    if qps:
        argv += ["-Q", str(qps)]
    return argv


def phases(args: argparse.Namespace) -> list[int]:
    """The -Q of each run per server: the main run, then the fixed-rate latency run."""
    return [args.qps] + ([args.latency_qps] if args.latency_qps else [])


def number(pattern: str, text: str) -> float:
    match = re.search(pattern, text)
    if match is None:
        raise ValueError(f"dnsperf output lacks {pattern!r}:\n{text}")
    return float(match.group(1))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and all its threads, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def parse_dnsperf(server: str, text: str, cpu: float = 0.0) -> Result:
    rcodes = re.search(r"Response codes:\s*(.*)", text)
    completed = number(r"Queries completed:\s*(\d+)", text)
    return Result(
        server=server,
        qps=number(r"Queries per second:\s*([\d.]+)", text),
        avg_latency_ms=1000 * number(r"Average Latency \(s\):\s*([\d.]+)", text),
        max_latency_ms=1000 * number(r"Average Latency \(s\):.*max ([\d.]+)", text),
        stddev_ms=1000 * number(r"Latency StdDev \(s\):\s*([\d.]+)", text),
        sent=int(number(r"Queries sent:\s*(\d+)", text)),
        lost=int(number(r"Queries lost:\s*(\d+)", text)),
        rcodes=rcodes.group(1).strip() if rcodes else "",
        cpu_us_per_query=1e6 * cpu / completed if completed else 0.0,
    )


def run_dnsperf(
    dnsperf: str,
    server: str,
    port: int,
    pids: int | Sequence[int],
    args: argparse.Namespace,
    qps: int,
    scenario: Scenario | None = None,
) -> Result:
    """One dnsperf run; ``pids``: the server's processes (workers), whose CPU is summed."""
    pids = [pids] if isinstance(pids, int) else list(pids)
    argv = dnsperf_argv(dnsperf, port, args, qps, scenario)
    print(f"# {server}: {' '.join(argv)}", file=sys.stderr)
    before = sum(cpu_seconds(p) for p in pids)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    cpu = sum(cpu_seconds(p) for p in pids) - before
    if proc.returncode != 0:
        raise SystemExit(f"dnsperf failed ({proc.returncode}): {proc.stderr or proc.stdout}")
    label = f"{server} @ {qps} q/s" if qps else server
    return parse_dnsperf(label, proc.stdout, cpu)


def table(results: list[Result]) -> str:
    rows = [
        "| server | q/s | avg latency ms | max ms | stddev ms | server CPU µs/query | sent | lost "
        "| response codes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        rows.append(
            f"| {r.server} | {r.qps:,.0f} | {r.avg_latency_ms:.3f} | {r.max_latency_ms:.3f} "
            f"| {r.stddev_ms:.3f} | {r.cpu_us_per_query:.1f} | {r.sent} | {r.lost} | {r.rcodes} |"
        )
    rows.append("")
    rows += ratio_lines(results)
    return "\n".join(rows)


def ratio_lines(results: list[Result]) -> list[str]:
    """dnslab against each reference of the same round and rate: throughput and CPU/query."""
    by_name = {r.server: r for r in results}
    out = []
    for name, ours in by_name.items():
        if not name.startswith("dnslab"):
            continue
        for ref in ("knot", "dnslib"):
            other = by_name.get(name.replace("dnslab", ref, 1))
            if other is None or other.qps <= 0:
                continue
            out.append(
                f"ratio dnslab/{ref} ({name.replace('dnslab', 'run', 1)}): "
                f"throughput {ours.qps / other.qps:.3f}, "
                f"average latency {ours.avg_latency_ms / max(other.avg_latency_ms, 1e-9):.2f}x, "
                f"CPU per query {ours.cpu_us_per_query / max(other.cpu_us_per_query, 1e-9):.2f}x"
            )
    return out


def servers(args: argparse.Namespace, scenario: str = "static") -> tuple[str, ...]:
    """The servers a scenario benchmarks, in order: all of them, or the one ``--only`` names
    (dnslib's ZoneResolver only for the static-zone scenarios)."""
    names = ("knot", "dnslab", "dnslib") if scenario in FLOOR_SCENARIOS else ("knot", "dnslab")
    return tuple(s for s in names if args.only in (None, s))


def nxdomain_queries(path: Path) -> Path:
    """1,000 distinct names that exist in none of the differential zones (no wildcard)."""
    path.write_text("".join(f"nx{i}.nothing.example.com A\n" for i in range(1000)))
    return path


def ecs_query(name: str, subnet: str) -> bytes:
    """A wire query for ``name`` A with EDNS (1232) and an ECS option for ``subnet``."""
    import ipaddress

    net = ipaddress.ip_network(subnet)
    need = (net.prefixlen + 7) // 8
    family = 1 if net.version == 4 else 2
    body = bytes((0, family, net.prefixlen, 0)) + net.network_address.packed[:need]
    option = bytes((0, 8)) + len(body).to_bytes(2, "big") + body
    qname = b"".join(bytes([len(x)]) + x.encode() for x in name.strip(".").split(".")) + b"\0"
    header = bytes.fromhex("0000 0000 0001 0000 0000 0001")
    opt = b"\0" + bytes.fromhex("0029 04d0 0000 0000") + len(option).to_bytes(2, "big") + option
    return header + qname + bytes.fromhex("0001 0001") + opt


def ecs_queries(path: Path) -> Path:
    """dnsperf -B input: length-prefixed wire queries, the GEO_SUBNETS in turn."""
    wire = [ecs_query(GEO_NAME, subnet) for subnet in GEO_SUBNETS]
    path.write_bytes(b"".join(len(q).to_bytes(2, "big") + q for q in wire))
    return path


def knot_geo_files(lab_toml: Path, workdir: Path) -> tuple[Path, Path]:
    """Knot's side of a GeoDNS scenario, generated from ``lab_toml`` with every region up:
    a mod-geoip subnet-mode map (each location's networks -> its answer) and the zone with
    each service name's default-order answer (what clients in no location get)."""
    import ipaddress

    from authoritative.geo import Client, geomap_from_config
    from authoritative.geo_inputs import rules_of
    from authoritative.health import HealthInputs, compute_view
    from authoritative.services import Services, decide
    from lab.config import load_config

    cfg = load_config(lab_toml)
    inputs = HealthInputs(tuple(c.name for c in cfg.checkers), tuple(cfg.regions), 0.0)
    services = Services(cfg, geomap_from_config(cfg), compute_view(inputs, rules_of(cfg), 0.0))
    ((_, zone_path),) = cfg.authoritative.zones.items()
    geo, extra = [], []
    for key, svc in services.cfg.services.items():
        geo.append(f"{svc.name.rstrip('.')}:")
        for loc in cfg.locations.values():
            for net in loc.nets:
                first = ipaddress.ip_network(net).network_address
                d = decide(services, key, Client(first), 1, 0.0)
                geo.append(f"  - net: {net}")
                for rdtype, value in d.records:
                    geo.append(f"    {'A' if rdtype == 1 else 'AAAA'}: {value}")
        default = decide(services, key, Client.from_source("10.9.8.1"), 1, 0.0)
        for rdtype, value in default.records:
            extra.append(f"{svc.name} {svc.ttl} IN {'A' if rdtype == 1 else 'AAAA'} {value}")
    geo_conf = workdir / "geo.conf"
    geo_conf.write_text("\n".join(geo) + "\n")
    zone = workdir / "lab.zone"
    zone.write_text(cfg.path(zone_path).read_text() + "\n".join(extra) + "\n")
    return geo_conf, zone


def start_knot_geo(group: Any, knotd: str, workdir: Path, lab_toml: Path) -> Any:
    """knotd with mod-geoip (subnet mode) on the map of ``lab_toml``."""
    from lab.config import load_config
    from lab.procs import udp_dns_ready
    from tests.integration.knot import Endpoint, Zone, knot_conf, quiet_port

    (workdir / "run").mkdir(parents=True, exist_ok=True)
    (workdir / "storage").mkdir(parents=True, exist_ok=True)
    geo_conf, zone = knot_geo_files(lab_toml, workdir)
    ttl = next(iter(load_config(lab_toml).services.values())).ttl
    port = quiet_port()
    conf = knot_conf(workdir, "127.0.0.1", port, [Zone("lab.example.", zone)], 1, "error")
    module = f'mod-geoip:\n  - id: lab\n    config-file: "{geo_conf}"\n    ttl: {ttl}\n    mode: subnet\n'
    conf = conf.replace("template:", module + "template:", 1) + "    module: mod-geoip/lab\n"
    (workdir / "knot.conf").write_text(conf)
    child = group.start("knotd-geo", [knotd, "-c", str(workdir / "knot.conf")])
    group.wait_ready(child, udp_dns_ready("127.0.0.1", port, "lab.example."))
    return Endpoint("knotd-geo", "127.0.0.1", port, child)


def start_dnslab_geo(group: Any, workdir: Path, workers: int) -> tuple[Any, Path]:
    """dnslab authoritative with the shipped lab.toml on free ports (no checker runs: every
    region is assumed up, as in Knot's map)."""
    from lab.procs import udp_dns_ready
    from tests.conftest import DNSLAB
    from tests.integration.geo_lab import write_lab
    from tests.integration.knot import Endpoint

    workdir.mkdir(parents=True, exist_ok=True)
    config, port, _ = write_lab(workdir)
    argv = [DNSLAB, "authoritative", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
    argv += worker_flags(workers)
    child = group.start("dnslab-geo", argv)
    group.wait_ready(child, udp_dns_ready("127.0.0.1", port, "lab.example."))
    group.wait_ready(child, lambda: saw_ready(child))  # every worker listens
    return Endpoint("dnslab-geo", "127.0.0.1", port, child), config


def start_dnslib(group: Any, workdir: Path, zones: Sequence[Any]) -> Any:
    """dnslib's own server (``dnslib.zoneresolver``, UDP, logging off) on the same zones."""
    from lab.procs import udp_dns_ready
    from tests.integration.knot import Endpoint, quiet_port

    workdir.mkdir(parents=True, exist_ok=True)
    merged = workdir / "all.zone"
    merged.write_text("".join(f"$ORIGIN {z.origin}\n" + z.path.read_text() + "\n" for z in zones))
    port = quiet_port()
    argv = [sys.executable, "-m", "dnslib.zoneresolver", "--zone", str(merged)]
    argv += [
        "--port",
        str(port),
        "--address",
        "127.0.0.1",
        "--log=-request,-reply,-truncated,-error",
    ]
    child = group.start("dnslib", argv)
    group.wait_ready(child, udp_dns_ready("127.0.0.1", port))
    return Endpoint("dnslib", "127.0.0.1", port, child)


def saw_ready(child: Any) -> bool:
    """The server printed its ``ready`` line (with --workers: once every worker listens)."""
    log = child.log_path
    return log is not None and log.exists() and b"ready " in log.read_bytes()


def udp_path(args: argparse.Namespace) -> str:
    from lab import udpbatch

    if args.udp_path == "python" or not udpbatch.AVAILABLE:
        return "recvfrom/sendto"
    return "recvmmsg/sendmmsg (lab._udpbatch)"


def worker_flags(workers: int) -> list[str]:
    return ["--workers", str(workers)] if workers > 1 else []


def worker_pids(pid: int) -> list[int]:
    """A server process and its children (dnslab --workers forks them)."""
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out += worker_pids(int(child))
    return out


def bench(args: argparse.Namespace) -> dict[str, list[Result]]:
    from lab.procs import ProcessGroup
    from tests.integration.knot import start_knot
    from tests.integration.servers import ZONES, start_dnslab

    dnsperf = shutil.which("dnsperf")
    knotd = shutil.which("knotd") or "/usr/sbin/knotd"
    if dnsperf is None or not Path(knotd).exists():
        raise SystemExit("needs dnsperf and knotd (apt-get install dnsperf knot knot-module-geoip)")
    out: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="dnslab-bench-") as tmp_name:
        tmp = Path(tmp_name)
        scenarios = {
            "static": Scenario("static", args.queries),
            "nxdomain": Scenario("nxdomain", nxdomain_queries(tmp / "nxdomain.txt")),
            "geo-ecs": Scenario("geo-ecs", ecs_queries(tmp / "geo-ecs.bin"), binary=True),
            "geo-source": Scenario(
                "geo-source", _write(tmp / "geo.txt", f"{GEO_NAME} A\n"), source=GEO_SOURCE
            ),
        }
        for name in args.scenarios:
            scenario = scenarios[name]
            results = out.setdefault(name, [])
            for round_ in range(args.rounds):
                for server in servers(args, name):
                    work = tmp / f"{name}-{server}-{round_}"
                    with ProcessGroup(log_dir=work / "logs") as group:
                        geo = name.startswith("geo")
                        if server == "knot":
                            end = (
                                start_knot_geo(group, knotd, work, _lab_toml(tmp))
                                if geo
                                else start_knot(group, knotd, work, ZONES, log_level="error")
                            )
                        elif server == "dnslib":
                            end = start_dnslib(group, work, ZONES)
                        elif geo:
                            end, _ = start_dnslab_geo(group, work, args.workers)
                        else:
                            end = start_dnslab(group, ZONES, extra=worker_flags(args.workers))
                            group.wait_ready(end.child, functools.partial(saw_ready, end.child))
                        pids = worker_pids(end.child.pid)
                        label = server if args.rounds == 1 else f"{server} #{round_ + 1}"
                        for qps in phases(args):
                            results.append(
                                run_dnsperf(dnsperf, label, end.port, pids, args, qps, scenario)
                            )
    return out


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def _lab_toml(tmp: Path) -> Path:
    """The lab.toml both geo servers read (dnslab's own copy has its ports; same map)."""
    from tests.integration.geo_lab import write_lab

    path = tmp / "knot-lab"
    path.mkdir(exist_ok=True)
    return write_lab(path)[0]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.udp_path == "python":
        os.environ["DNSLAB_UDPBATCH"] = "0"  # the servers started below inherit it
    elif udp_path(args) == "recvfrom/sendto":
        print(
            "note: lab._udpbatch is not built (`make install` with gcc and python3-dev): "
            "dnslab runs its recvfrom/sendto path",
            file=sys.stderr,
        )
    load_before = os.getloadavg()[0]
    results = bench(args)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    caps = ", then -Q ".join(str(q) if q else "uncapped" for q in phases(args))
    print(
        f"dnsperf -m {args.mode} -c {args.clients} -q {args.outstanding} -l {args.duration} -T 1 "
        f"(runs: {caps}), dnslab --workers {args.workers}, UDP path {udp_path(args)}, "
        f"{args.rounds} round(s), {when}, "
        f"{os.cpu_count()} CPUs, load average {load_before:.2f} before / "
        f"{os.getloadavg()[0]:.2f} after\n"
    )
    for name, rows in results.items():
        print(f"#### {name}\n")
        print(table(rows))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
