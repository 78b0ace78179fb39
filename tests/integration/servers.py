"""Start the server under test: ``dnslab authoritative``, or Knot itself for the harness self-test.

``DNSLAB_DIFF_PEER=knot`` puts a second knotd where dnslab would be, so the differential and
robustness suites can be checked against Knot (every case must then agree/pass).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Sequence
from pathlib import Path

from lab.procs import ProcessGroup, udp_dns_ready
from tests.conftest import DNSLAB, REPO, require_tool
from tests.integration.knot import Endpoint, Zone, quiet_port, start_knot

DATA = REPO / "tests" / "data" / "differential"
ZONES = (
    Zone("example.com.", DATA / "example.com.zone"),
    Zone("sub.example.com.", DATA / "sub.example.com.zone"),
    Zone("example.net.", DATA / "example.net.zone"),
)


def start_dnslab(
    group: ProcessGroup, zones: Sequence[Zone], name: str = "dnslab", extra: Sequence[str] = ()
) -> Endpoint:
    """Start ``dnslab authoritative`` (with ``extra`` flags) on a free port and wait until
    every zone answers."""
    host = "127.0.0.1"
    port = quiet_port(host)
    argv = [DNSLAB, "authoritative", "--listen", f"{host}:{port}", *extra]
    for zone in zones:
        argv += ["--zone", zone.flag()]
    child = group.start(name, argv)
    group.wait_ready(child, udp_dns_ready(host, port))
    for zone in zones:
        group.wait_ready(child, udp_dns_ready(host, port, zone.origin))
    return Endpoint(name, host, port, child)


def start_under_test(group: ProcessGroup, work: Path, zones: Sequence[Zone]) -> Endpoint:
    """dnslab's server, or a knotd when ``DNSLAB_DIFF_PEER=knot``."""
    if os.environ.get("DNSLAB_DIFF_PEER") == "knot":
        return start_knot(group, require_tool("knotd"), work / "peer", zones, name="knotd-peer")
    # No skip when dnslab's own server is missing: a missing module is a broken project, and the
    # import below fails the test. (Mutation: `mv authoritative/cli.py /tmp` used to turn 15 tests
    # into skips under DNSLAB_REQUIRE_SYSTEM_TOOLS=1; now they error.)
    importlib.import_module("authoritative.cli")
    return start_dnslab(group, zones)
