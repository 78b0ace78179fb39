"""Differential suite: dnslab's authoritative server answers every query exactly like Knot DNS 3.2.

Both servers load the zones of ``tests/data/differential/`` (example.com, its hosted child
sub.example.com, example.net) and receive the very same query bytes. Replies are reduced to
comparable lines by ``dnsdiff.summarize`` (rcode incl. extended, opcode, flags, counts, the
question as sent back, OPT and its options in order, a TSIG record's fields, answer /
authority / additional as RRs with TTLs, names compared case-insensitively); a failure prints
the unified diff, Knot first. What is compared:

* ``diff_cases.py``: ~400 named queries, one test id each (positive, CNAME, wildcard, ENT,
  delegation, ANY, classes, opcodes, EDNS/ECS/EXPIRE, malformed headers and records, TSIG,
  which error wins when a query is wrong twice, RDATA shapes, TCP variants);
* ``diff_fuzz.py``: seeded random queries (structured, bit-flipped, with random records) over
  UDP, and structured ones over TCP;
* every owner name x 13 types of ``zones/*.zone`` and of the syntax / quirks zones;
* several queries pipelined on one TCP connection.

The reference knotd runs with ``edns-client-subnet: on`` (an ECS-aware server, like dnslab).
Facts that name the server itself are masked: the text of CH TXT answers and the NSID payload
(Knot answers NSID with its host name by default). A disagreement being fixed is listed in
``KNOWN_DIFFERENCES`` as a strict xfail; the list is empty when the servers agree.
Deliberate differences, where dnslab follows the RFC and Knot is lenient, are rules in
``diff_deliberate`` (a lax ECS option is FORMERR; an UPDATE reply never echoes a zone section
that is no zone): for a query a rule recognises, dnslab's reply is compared with the reply the
rule derives from Knot's, and must parse under dnspython.

``DNSLAB_DIFF_PEER=knot`` compares Knot with a second Knot: the harness's self-test.
"""

from __future__ import annotations

import os
import random
import re
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import dns.zone
import pytest

from lab.errors import ProcessError
from lab.procs import ProcessGroup
from tests.conftest import REPO, require_tool
from tests.integration import diff_fuzz
from tests.integration.diff_cases import Case, all_cases, query
from tests.integration.diff_deliberate import expected_summary, parses_strictly
from tests.integration.dnsdiff import (
    Comparison,
    recv_exact,
    reply_id_matches,
    send_batch,
    send_pair,
    summarize,
)
from tests.integration.knot import Endpoint, Zone, start_knot
from tests.integration.servers import DATA, ZONES, start_under_test

pytestmark = [pytest.mark.integration, pytest.mark.system]

# case id -> the disagreement, reported to core (tests turn red once fixed: strict xfail)
KNOWN_DIFFERENCES: dict[str, str] = {}


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoint, Endpoint]]:
    knotd = require_tool("knotd")
    work = tmp_path_factory.mktemp("differential")
    group = ProcessGroup(log_dir=work / "logs")
    try:
        knot = start_knot(group, knotd, work / "knot", ZONES)
        ours = start_under_test(group, work, ZONES)
        yield knot, ours
    finally:
        group.stop_all()


NSID = re.compile(r"^(edns option 3) [0-9a-f]*$")
ANSWER_RDATA = re.compile(r"^(answer: \S+ \d+ \S+ \S+) .*$")


CHAOS_TXT = re.compile(r"^(answer: \S+ \d+ CH TXT) .*$")


def masked(case: Case, lines: list[str]) -> list[str]:
    out = [NSID.sub(r"\1 <server nsid>", line) for line in lines]
    out = [CHAOS_TXT.sub(r"\1 <server-specific text>", line) for line in out]
    if not case.rdata:
        out = [ANSWER_RDATA.sub(r"\1 <server-specific text>", line) for line in out]
    return out


def compare(case: Case, knot: Endpoint, ours: Endpoint) -> Comparison:
    knot_reply, our_reply = send_pair(case.wire, knot.addr, ours.addr, case.transport)
    assert reply_id_matches(case.wire, knot_reply), "Knot's reply has another message id"
    assert reply_id_matches(case.wire, our_reply), "dnslab's reply has another message id"
    return judge(case, knot, knot_reply, our_reply)


def judge(
    case: Case, knot: Endpoint, knot_reply: bytes | None, our_reply: bytes | None
) -> Comparison:
    """Knot's summary (or what a deliberate difference derives from it) beside ours."""
    expected, rules = summarize(knot_reply), []
    if os.environ.get("DNSLAB_DIFF_PEER") != "knot":  # a second Knot keeps Knot's leniency
        expected, rules = expected_summary(case.wire, case.transport, knot.addr, expected)
    if rules:
        assert parses_strictly(our_reply), f"{case.id}: dnspython rejects dnslab's reply"
    return Comparison(masked(case, expected), masked(case, summarize(our_reply)))


def params() -> list[object]:
    out: list[object] = []
    for case in all_cases():
        marks = []
        if case.id in KNOWN_DIFFERENCES and os.environ.get("DNSLAB_DIFF_PEER") != "knot":
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_DIFFERENCES[case.id]))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.mark.parametrize("case", params())
def test_answers_like_knot(servers: tuple[Endpoint, Endpoint], case: Case) -> None:
    knot, ours = servers
    result = compare(case, knot, ours)
    assert result.agree, (
        f"{case.id} over {case.transport}: query bytes {case.wire.hex()}\n{result.diff()}"
    )


FUZZ_BATCHES = 3  # of 100 queries each, per kind
FUZZ = {
    "structured": diff_fuzz.structured,
    "mutated": diff_fuzz.mutated,
    "with-records": diff_fuzz.with_records,
}


@pytest.mark.parametrize("kind", sorted(FUZZ))
def test_seeded_random_queries_agree(servers: tuple[Endpoint, Endpoint], kind: str) -> None:
    """Hundreds of seeded random queries (``diff_fuzz``): every reply summary agrees."""
    knot, ours = servers
    rng = random.Random(f"dnslab-differential-{kind}")
    disagreements = []
    for batch in range(FUZZ_BATCHES):
        packets = [FUZZ[kind](rng, qid=n) for n in range(100)]
        replies = send_batch(packets, [knot.addr, ours.addr])
        for n, (wire, (k, o)) in enumerate(zip(packets, replies, strict=True)):
            case = Case(f"{kind}-{batch}-{n}", wire)
            result = judge(case, knot, k, o)
            if not result.agree:
                disagreements.append(f"{case.id}: query bytes {wire.hex()}\n{result.diff()}")
    shown = "\n\n".join(disagreements[:5])
    assert not disagreements, f"{len(disagreements)} disagreements, first ones:\n{shown}"


def test_seeded_random_queries_over_tcp_agree(servers: tuple[Endpoint, Endpoint]) -> None:
    """100 seeded structured queries over TCP, one connection each."""
    knot, ours = servers
    rng = random.Random("dnslab-differential-tcp")
    disagreements = []
    for n in range(100):
        case = Case(f"tcp-{n}", diff_fuzz.structured(rng, qid=n), "tcp")
        result = compare(case, knot, ours)
        if not result.agree:
            disagreements.append(f"{case.id}: query bytes {case.wire.hex()}\n{result.diff()}")
    shown = "\n\n".join(disagreements[:5])
    assert not disagreements, f"{len(disagreements)} disagreements, first ones:\n{shown}"


# the zones the repository ships, and a master-file syntax torture test
ZONE_FILES = [
    *sorted((REPO / "zones").glob("*.zone")),
    DATA / "syntax.example.zone",
    DATA / "quirks.example.zone",
]


def zone_text(path: Path) -> str:
    """The master file with its ``$INCLUDE`` lines replaced by the included files (for probing)."""
    lines: list[str] = []
    for line in path.read_text().splitlines():
        words = line.split(";", 1)[0].split()
        if words[:1] == ["$INCLUDE"]:
            origin = re.search(r"^\$ORIGIN\s+(\S+)", "\n".join(lines), re.M)
            lines.append(zone_text(path.parent / words[1]))
            if origin:  # the include's $ORIGIN stays inside it
                lines.append(f"$ORIGIN {origin.group(1)}")
        else:
            lines.append(line)
    return "\n".join(lines)


def parse_zone(path: Path) -> dns.zone.Zone:
    return dns.zone.from_text(zone_text(path), relativize=False, check_origin=False)


PROBE_TYPES = [
    "A",
    "AAAA",
    "MX",
    "TXT",
    "NS",
    "SOA",
    "CNAME",
    "SRV",
    "DS",
    "CAA",
    "PTR",
    "ANY",
    "TYPE65280",
]


def zone_probes(path: Path) -> list[bytes]:
    """Every owner name of a zone file (and a name below each) with the common types."""
    zone = parse_zone(path)
    names = sorted(str(name) for name in zone.nodes)
    names += [f"probe-below.{name}" for name in names if not name.startswith("*")]
    return [query(name, rdtype) for name in names for rdtype in PROBE_TYPES]


ZONE_FILE_DIFFERENCES: dict[str, str] = {}


def zone_file_params() -> list[object]:
    out: list[object] = []
    for path in ZONE_FILES:
        reason = ZONE_FILE_DIFFERENCES.get(path.name)
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        out.append(pytest.param(path, id=path.name, marks=marks))
    return out


@pytest.fixture(scope="module", params=zone_file_params())
def zone_file_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, Endpoint, Endpoint | str]]:
    """Knot and dnslab on one zone file; dnslab's start-up failure is reported by the test."""
    knotd = require_tool("knotd")
    path: Path = request.param
    zones = (Zone(str(parse_zone(path).origin), path),)
    work = tmp_path_factory.mktemp(f"zone-{path.stem}")
    group = ProcessGroup(log_dir=work / "logs")
    try:
        knot = start_knot(group, knotd, work / "knot", zones)
        try:
            ours: Endpoint | str = start_under_test(group, work, zones)
        except ProcessError as exc:
            ours = str(exc)
        yield path, knot, ours
    finally:
        group.stop_all()


def test_zone_files_answer_like_knot(
    zone_file_servers: tuple[Path, Endpoint, Endpoint | str],
) -> None:
    """zones/*.zone, syntax.example.zone and quirks.example.zone answer like Knot everywhere."""
    path, knot, ours = zone_file_servers
    assert isinstance(ours, Endpoint), f"dnslab did not start on {path.name}:\n{ours}"
    probes = zone_probes(path)
    disagreements = []
    for start in range(0, len(probes), 100):
        batch = probes[start : start + 100]
        for wire, (k, o) in zip(batch, send_batch(batch, [knot.addr, ours.addr]), strict=True):
            case = Case(path.name, wire)
            result = judge(case, knot, k, o)
            if not result.agree:
                disagreements.append(result.diff())
    shown = "\n\n".join(disagreements[:5])
    assert not disagreements, f"{path.name}: {len(disagreements)} of {len(probes)} differ:\n{shown}"


def pipelined(wires: list[bytes], addr: tuple[str, int]) -> list[list[str]]:
    """Send all queries on one TCP connection at once; the summaries of the replies, in order."""
    out = []
    with socket.create_connection(addr, timeout=2.0) as s:
        s.sendall(b"".join(struct.pack("!H", len(w)) + w for w in wires))
        for _ in wires:
            head = recv_exact(s, 2)
            body = recv_exact(s, struct.unpack("!H", head)[0]) if head else None
            out.append(summarize(body))
    return out


def test_tcp_pipelined_replies_like_knot(servers: tuple[Endpoint, Endpoint]) -> None:
    """RFC 7766: several queries on one connection; same replies, same order as Knot."""
    knot, ours = servers
    wires = [
        query("www.example.com."),
        query("nx.example.com."),
        query("example.org."),
        query("big.example.com.", "TXT"),
        query("alias.example.com.", "AAAA", edns=None),
    ]
    case = Case("pipelined", b"")
    expected = [masked(case, lines) for lines in pipelined(wires, knot.addr)]
    got = [masked(case, lines) for lines in pipelined(wires, ours.addr)]
    for i, (k, o) in enumerate(zip(expected, got, strict=True)):
        result = Comparison(k, o)
        assert result.agree, f"reply {i} on the connection:\n{result.diff()}"


def test_servers_still_alive_after_all_cases(servers: tuple[Endpoint, Endpoint]) -> None:
    knot, ours = servers
    assert knot.child.alive() and ours.child.alive()
    result = compare(Case("alive", query("www.example.com.")), knot, ours)
    assert result.agree, result.diff()


def test_comparison_reports_a_flag_difference() -> None:
    """The harness can fail: a reply without AA differs from one with it, and the diff says so."""
    import dns.flags
    import dns.message

    request = dns.message.from_wire(query("www.example.com."))
    a = dns.message.make_response(request)
    a.flags |= dns.flags.AA
    b = dns.message.make_response(request)
    cmp = Comparison(summarize(a.to_wire()), summarize(b.to_wire()))
    assert not cmp.agree
    assert "-flags QR AA" in cmp.diff() and "+flags QR" in cmp.diff()


def test_zone_files_exist() -> None:
    for zone in ZONES:
        assert Path(zone.path).is_file(), zone.path
