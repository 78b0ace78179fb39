"""Run Knot DNS (``knotd``) as a reference authoritative server on a free loopback port.

Used by the differential suite and the benchmark. The configuration is the smallest that
serves zone files as they are: no DNSSEC, no journal, no zone file sync-back, no semantic
checks, identity and version left at Knot's defaults. Everything knotd writes (rundir,
storage) lives under the work directory; the process is stopped by PID through a
``lab.procs.ProcessGroup``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lab.procs import Child, ProcessGroup, free_port, udp_dns_ready

KNOT_CONF = """\
server:
    rundir: "{rundir}"
    listen: {host}@{port}
    udp-workers: {workers}
    tcp-workers: {workers}
    background-workers: 1
    edns-client-subnet: on
log:
  - target: stderr
    any: {log_level}
database:
    storage: "{storage}"
template:
  - id: default
    storage: "{storage}"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
{zones}
"""


@dataclass(frozen=True)
class Zone:
    """One zone to serve: its origin (``example.com``) and zone file."""

    origin: str
    path: Path

    def flag(self) -> str:
        """The ``--zone ORIGIN=FILE`` argument of ``dnslab authoritative``."""
        return f"{self.origin.rstrip('.')}.={self.path}"


@dataclass(frozen=True)
class Endpoint:
    name: str
    host: str
    port: int
    child: Child

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)


def quiet_port(host: str = "127.0.0.1") -> int:
    """``lab.procs.free_port``: a port free for TCP and UDP, drawn from below the kernel's
    ephemeral range, where no other process's ``bind(0)`` or outgoing connection lands
    between the pick and knotd's bind (knotd binds UDP with SO_REUSEPORT, so two listeners
    could even share a port). This was a second copy of that rule; the name stays for the
    Knot, bench and container callers."""
    return free_port(host)


def knot_conf(
    workdir: Path,
    host: str,
    port: int,
    zones: Sequence[Zone],
    workers: int = 1,
    log_level: str = "info",
    rrl: tuple[int, int] | None = None,
    transfer_allow: str | None = None,
) -> str:
    """The configuration; ``rrl = (rate_limit, slip)`` adds mod-rrl as a global module,
    ``transfer_allow`` an ACL letting that address or network transfer every zone."""
    zone_lines = "\n".join(f'  - domain: {z.origin}\n    file: "{z.path.resolve()}"' for z in zones)
    conf = KNOT_CONF
    if rrl is not None:
        module = f"mod-rrl:\n  - id: rrl\n    rate-limit: {rrl[0]}\n    slip: {rrl[1]}\n"
        conf = conf.replace("template:\n  - id: default\n", module + "template:\n  - id: default\n")
        conf = conf.replace(
            "    semantic-checks: off\n",
            "    semantic-checks: off\n    global-module: mod-rrl/rrl\n",
        )
    if transfer_allow is not None:
        acl = f"acl:\n  - id: xfr\n    address: {transfer_allow}\n    action: transfer\n"
        conf = conf.replace("template:\n  - id: default\n", acl + "template:\n  - id: default\n")
        conf = conf.replace(
            "    semantic-checks: off\n", "    semantic-checks: off\n    acl: xfr\n"
        )
    return conf.format(
        rundir=workdir / "run",
        storage=workdir / "storage",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        zones=zone_lines,
    )


def start_knot(
    group: ProcessGroup,
    knotd: str,
    workdir: Path,
    zones: Sequence[Zone],
    host: str = "127.0.0.1",
    workers: int = 1,
    log_level: str = "info",
    name: str = "knotd",
    rrl: tuple[int, int] | None = None,
    transfer_allow: str | None = None,
) -> Endpoint:
    """Start knotd serving ``zones`` and wait until it answers for every zone."""
    (workdir / "run").mkdir(parents=True, exist_ok=True)
    (workdir / "storage").mkdir(parents=True, exist_ok=True)
    port = quiet_port(host)
    conf = workdir / "knot.conf"
    conf.write_text(knot_conf(workdir, host, port, zones, workers, log_level, rrl, transfer_allow))
    child = group.start(name, [knotd, "-c", str(conf)])
    group.wait_ready(child, udp_dns_ready(host, port))
    for zone in zones:  # zones load in the background after the socket is up
        group.wait_ready(child, udp_dns_ready(host, port, zone.origin))
    return Endpoint(name, host, port, child)
