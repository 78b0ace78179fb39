"""Peers for the resolver's integration tests: a lab zone served by Knot, and Unbound.

Not a test module: ``tests/integration/test_resolver*.py`` import it. Every process is
started through a ``lab.procs.ProcessGroup`` (stopped by PID) on free loopback ports.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from lab.errors import ProcessError
from lab.procs import Child, ProcessGroup, free_port, on_fresh_ports, udp_dns_ready, wait_for
from tests.integration.knot import Endpoint, Zone, start_knot

ORIGIN = "lab.example."
ZONE_HEAD = """\
$ORIGIN lab.example.
@ {soa_ttl} IN SOA ns1 hostmaster {serial} 3600 600 86400 {minimum}
@ 3600 IN NS ns1
ns1 3600 IN A 127.0.0.1
"""


def zone_text(serial: int, records: str, soa_ttl: int = 3600, minimum: int = 2) -> str:
    return ZONE_HEAD.format(serial=serial, soa_ttl=soa_ttl, minimum=minimum) + records


@dataclass
class Knot:
    """Knot DNS serving lab.example from a file that tests rewrite and reload."""

    endpoint: Endpoint
    zone_file: Path
    socket: Path
    knotc: str

    @property
    def addr(self) -> str:
        return f"{self.endpoint.host}:{self.endpoint.port}"

    def load(self, text: str, serial: int) -> None:
        """Replace the zone and wait until Knot serves the new serial."""
        self.zone_file.write_text(text)
        subprocess.run(
            [self.knotc, "-s", str(self.socket), "zone-reload", ORIGIN],
            check=True,
            capture_output=True,
            timeout=10,
        )
        host, port = self.endpoint.addr
        wait_for(lambda: soa_serial(host, port) == serial, 10, f"knot serial {serial}")


def start_lab_knot(group: ProcessGroup, knotd: str, knotc: str, workdir: Path, text: str) -> Knot:
    workdir.mkdir(parents=True, exist_ok=True)
    zone_file = workdir / "lab.example.zone"
    zone_file.write_text(text)
    endpoint = start_knot(group, knotd, workdir, [Zone("lab.example", zone_file)])
    return Knot(endpoint, zone_file, workdir / "run" / "knot.sock", knotc)


def soa_serial(host: str, port: int) -> int | None:
    q = dns.message.make_query(ORIGIN, "SOA")
    try:
        r = dns.query.udp(q, host, port=port, timeout=0.5)
    except Exception:
        return None
    for rrset in r.answer:
        for rd in rrset:
            return int(rd.serial)
    return None


UNBOUND_CONF = """\
server:
    interface: 127.0.0.1
    port: {port}
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{dir}"
    pidfile: "{dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1
    do-ip6: no
    do-not-query-localhost: no
    module-config: "iterator"
    domain-insecure: "lab.example"
    qname-minimisation: no
{options}
remote-control:
    control-enable: no
forward-zone:
    name: "lab.example"
    forward-addr: {upstream_host}@{upstream_port}
"""


@dataclass
class Unbound:
    child: Child
    port: int

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"


def unbound_conf(workdir: Path, port: int, upstream: str, options: Mapping[str, object]) -> str:
    host, _, up_port = upstream.rpartition(":")
    lines = "\n".join(f"    {k}: {_unbound_value(v)}" for k, v in options.items())
    template = UNBOUND_CONF
    if "module-config" in options:  # e.g. '"subnetcache iterator"' for ECS
        template = template.replace('    module-config: "iterator"\n', "")
    return template.format(
        port=port,
        dir=workdir,
        options=lines,
        upstream_host=host,
        upstream_port=up_port,
    )


def _unbound_value(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


def start_unbound(
    group: ProcessGroup,
    unbound: str,
    workdir: Path,
    upstream: str,
    options: Mapping[str, object],
) -> Unbound:
    """Unbound on a free port; ready once it logs "start of service" (its own line, not any
    DNS answer on the port); a port taken between ``free_port`` and bind is retried."""
    workdir.mkdir(parents=True, exist_ok=True)

    def attempt(n: int) -> Unbound:
        port = free_port()
        conf = workdir / "unbound.conf"
        conf.write_text(unbound_conf(workdir, port, upstream, options))
        child = group.start(f"unbound-{n}", [unbound, "-d", "-c", str(conf)])
        wait_for(
            lambda c=child: not c.alive() or "start of service" in _log(c), 15, "unbound ready"
        )
        _alive_or_raise(child, "unbound")
        group.wait_ready(child, udp_dns_ready("127.0.0.1", port))
        return Unbound(child, port)

    return on_fresh_ports(attempt)


def start_dnslab_resolver(
    group: ProcessGroup,
    dnslab: str,
    upstream: str,
    options: Mapping[str, object],
    name: str = "resolver",
    extra: Sequence[str] = (),
) -> tuple[Child, str, str]:
    """``dnslab resolver`` with Unbound-spelled ``options``; returns (child, listen, metrics).

    Ready means *its own* ``ready resolver ADDR`` line (a DNS answer on the port could come from
    another process that grabbed it); a port taken between ``free_port`` and bind is retried.
    """

    def attempt(n: int) -> tuple[Child, str, str]:
        listen = f"127.0.0.1:{free_port()}"
        metrics = f"127.0.0.1:{free_port()}"
        argv = [dnslab, "resolver", "--upstream", upstream, "--listen", listen]
        argv += ["--metrics", metrics]
        for k, v in options.items():
            argv += ["-o", f"{k}={_unbound_value(v)}"]
        argv += extra
        child = group.start(f"{name}-{n}" if n else name, argv)
        ready = f"ready resolver {listen}"
        wait_for(lambda c=child, r=ready: not c.alive() or r in _log(c), 15, f"{name} ready")
        _alive_or_raise(child, name)
        host, _, port = listen.rpartition(":")
        group.wait_ready(child, udp_dns_ready(host, int(port)))
        return child, listen, metrics

    return on_fresh_ports(attempt)


def start_lab_authoritative(
    group: ProcessGroup, dnslab: str, config: Path, env: dict[str, str] | None = None
) -> tuple[Child, str, str]:
    """``dnslab authoritative --config lab.toml`` on free ports; returns (child, dns, admin)."""

    def attempt(n: int) -> tuple[Child, str, str]:
        dns_addr, admin = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
        argv = [dnslab, "authoritative", "--config", str(config)]
        argv += ["--listen", dns_addr, "--admin", admin]
        name = f"authoritative-{n}"
        child = group.start(name, argv, env=env, cwd=config.parent)
        ready = f"ready authoritative {dns_addr}"
        wait_for(lambda c=child, r=ready: not c.alive() or r in _log(c), 20, f"{name} ready")
        _alive_or_raise(child, name)
        return child, dns_addr, admin

    return on_fresh_ports(attempt)


def _alive_or_raise(child: Child, name: str) -> None:
    """A child that exited before it was ready: ``ProcessError`` with its log (which says
    "already in use" when its port was taken: ``on_fresh_ports`` starts it again)."""
    if not child.alive():
        raise ProcessError(f"{name} exited {child.proc.returncode}: {_log(child)}")


def _log(child: Child) -> str:
    if child.log_path is None or not child.log_path.exists():
        return ""
    return child.log_path.read_text(errors="replace")


@dataclass(frozen=True)
class Seen:
    """What a client saw: rcode, answer rdata, and every TTL (answer then authority)."""

    rcode: str
    data: tuple[str, ...]
    answer_ttls: tuple[int, ...]
    authority: tuple[str, ...]  # rdtype names
    authority_ttls: tuple[int, ...]

    def same_data(self, other: Seen) -> bool:
        return (self.rcode, self.data, self.authority) == (other.rcode, other.data, other.authority)

    @property
    def ttls(self) -> tuple[int, ...]:
        return self.answer_ttls + self.authority_ttls


def ask(addr: str, name: str, qtype: str = "A", tcp: bool = False, timeout: float = 3) -> Seen:
    host, _, port = addr.rpartition(":")
    q = dns.message.make_query(name, qtype)
    if tcp:
        r = dns.query.tcp(q, host, port=int(port), timeout=timeout)
    else:
        r = dns.query.udp(q, host, port=int(port), timeout=timeout)
    answer = [rr for rr in r.answer if rr.rdtype == dns.rdatatype.from_text(qtype)]
    return Seen(
        dns.rcode.to_text(r.rcode()),
        tuple(sorted(rd.to_text() for rr in answer for rd in rr)),
        tuple(rr.ttl for rr in answer),
        tuple(dns.rdatatype.to_text(rr.rdtype) for rr in r.authority),
        tuple(rr.ttl for rr in r.authority),
    )
