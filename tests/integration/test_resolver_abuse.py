"""Issue 13, findings 4, 5 and 7 (resolver side), reproduced against real processes: `dnslab
resolver` and Unbound 1.17 with the same options, both forwarding to the same Knot DNS.

* amplification: a 6.5 kB TXT asked with EDNS 65535 over UDP (was: 6,490 B of UDP for a
  40 B query; Unbound, max-udp-size 4096: TC in 44 B);
* access-control with Unbound's spelling (was: an unknown key) and its actions, per source
  address (127.0.0.2, .3, .4, .5 are loopback addresses a test client can bind to);
* QR=1 dropped (was: FORMERR), RD=0, CHAOS, other classes, opcodes, zone transfers, EDNS
  version 1: what Unbound answers, we answer, and every reply of ours parses under dnspython;
* TCP: a connection limit, and a per-connection deadline that bytes dribbled in cannot extend.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import pytest

from lab.procs import ProcessGroup, wait_for
from resolver.access import AccessControl
from tests.conftest import DNSLAB, require_tool
from tests.resolver.peers import (
    Knot,
    start_dnslab_resolver,
    start_lab_knot,
    start_unbound,
    zone_text,
)

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]

BIG = "big 60 IN TXT " + " ".join(['"' + "x" * 250 + '"'] * 26) + "\n"  # ~6.5 kB
MID = "mid 60 IN TXT " + " ".join(['"' + "y" * 250 + '"'] * 6) + "\n"  # ~1.5 kB
RECORDS = "a 300 IN A 192.0.2.1\n" + BIG + MID
ACL = [
    "127.0.0.2/32 refuse",
    "127.0.0.3/32 deny",
    "127.0.0.4/32 allow_snoop",
    "127.0.0.5 allow_setrd",
]


def lab(procs: ProcessGroup, tmp_path: Path) -> Knot:
    knotd, knotc = require_tool("knotd"), require_tool("knotc")
    return start_lab_knot(procs, knotd, knotc, tmp_path / "knot", zone_text(1, RECORDS))


def unbound_options(rules: list[str]) -> dict[str, object]:
    """One ``access-control:`` line per rule (the helper writes ``key: value`` lines)."""
    if not rules:
        return {}
    return {"access-control": "\n    access-control: ".join(rules)}


@dataclass
class Pair:
    ours: str
    theirs: str
    metrics: str


def start_pair(
    procs: ProcessGroup, tmp_path: Path, knot: Knot, rules: list[str], **extra: object
) -> Pair:
    unbound = require_tool("unbound")
    theirs = start_unbound(procs, unbound, tmp_path / "u", knot.addr, unbound_options(rules))
    options: dict[str, object] = {"send-client-subnet": False, **extra}
    argv_rules = [a for rule in rules for a in ("-o", f"access-control={rule}")]
    _, ours, metrics = start_dnslab_resolver(procs, DNSLAB, knot.addr, options, extra=argv_rules)
    return Pair(ours, theirs.addr, metrics)


def exchange(addr: str, wire: bytes, source: str = "127.0.0.1", timeout: float = 3.0) -> bytes:
    """Send ``wire`` then a probe query (a cached name) from the same socket; return the reply
    to ``wire``, or the probe's reply if ``wire`` got none.

    A server that drops ``wire`` answers the probe first (one socket, one server loop); a reply
    to ``wire`` that needs upstream may come after the probe's, so after the probe's reply we
    still wait up to ``LATE`` seconds for it.
    """
    host, _, port = addr.rpartition(":")
    probe = dns.message.make_query("a.lab.example.", "A")
    probe.id = (int.from_bytes(wire[:2], "big") + 1) % 65536
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.settimeout(timeout)
        s.sendto(wire, (host, int(port)))
        s.sendto(probe.to_wire(), (host, int(port)))
        probe_reply = None
        while True:
            try:
                reply = s.recv(70000)
            except TimeoutError:
                return probe_reply or b""  # nothing at all: the source is dropped
            if reply[:2] == wire[:2]:
                return reply
            probe_reply = reply
            s.settimeout(LATE)


LATE = 0.5  # seconds a reply needing upstream may trail the probe's


def dropped(reply: bytes, wire: bytes) -> bool:
    return not reply or reply[:2] != wire[:2]


def tcp_exchange(addr: str, wire: bytes, source: str = "127.0.0.1") -> bytes:
    host, _, port = addr.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=3, source_address=(source, 0)) as s:
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        head = s.recv(2)
        if len(head) < 2:
            return b""  # closed without a reply
        length = int.from_bytes(head, "big")
        out = b""
        while len(out) < length:
            chunk = s.recv(length - len(out))
            if not chunk:
                break
            out += chunk
        return out


def shape(reply: bytes) -> tuple[str, str, int, int]:
    """(rcode, flags, questions, answers) — and it must parse under dnspython."""
    m = dns.message.from_wire(reply)
    return (
        dns.rcode.to_text(m.rcode()),
        dns.flags.to_text(m.flags),
        len(m.question),
        len(m.answer),
    )


def fill(pair: Pair) -> None:
    """The probe name cached on both sides (so its reply never waits for upstream)."""
    for addr in (pair.ours, pair.theirs):
        assert dns_query_ok(addr)


def dns_query_ok(addr: str) -> bool:
    host, _, port = addr.rpartition(":")
    q = dns.message.make_query("a.lab.example.", "A")
    r = dns.query.udp(q, host, port=int(port), timeout=3)
    return r.rcode() == dns.rcode.NOERROR and bool(r.answer)


def outcome(seen: str | tuple[str, str, int, int]) -> str:
    return seen if isinstance(seen, str) else seen[0]


def metric(metrics: str, name: str, **labels: str) -> float:
    with urllib.request.urlopen(f"http://{metrics}/metrics", timeout=3) as r:
        text = r.read().decode()
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{want} not in /metrics")


def test_udp_replies_capped_like_unbound_no_amplification(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    knot = lab(procs, tmp_path)
    pair = start_pair(procs, tmp_path, knot, [])
    fill(pair)
    for payload in (65535, 4096):
        q = dns.message.make_query("big.lab.example.", "TXT", use_edns=0, payload=payload).to_wire()
        ours, theirs = exchange(pair.ours, q), exchange(pair.theirs, q)
        assert shape(ours) == shape(theirs) == ("NOERROR", "QR TC RD RA", 1, 0), payload
        assert len(ours) == len(theirs) < 64  # was 6,490 B for a 40 B query
    # under the cap the whole answer comes back (1.5 kB with EDNS 4096), from both
    q = dns.message.make_query("mid.lab.example.", "TXT", use_edns=0, payload=4096).to_wire()
    ours, theirs = exchange(pair.ours, q), exchange(pair.theirs, q)
    assert shape(ours) == shape(theirs) == ("NOERROR", "QR RD RA", 1, 1)
    assert len(ours) == len(theirs) > 1400
    # without EDNS: 512 bytes at most
    q = dns.message.make_query("mid.lab.example.", "TXT").to_wire()
    assert shape(exchange(pair.ours, q)) == shape(exchange(pair.theirs, q))
    assert dns.message.from_wire(exchange(pair.ours, q)).flags & dns.flags.TC
    # TCP has no cap: the whole 6.5 kB answer
    big = dns.message.make_query("big.lab.example.", "TXT").to_wire()
    assert len(tcp_exchange(pair.ours, big)) > 6400


def test_max_udp_size_is_configurable(procs: ProcessGroup, tmp_path: Path) -> None:
    knot = lab(procs, tmp_path)
    _, small, _ = start_dnslab_resolver(
        procs, DNSLAB, knot.addr, {"max-udp-size": 1232}, name="small"
    )
    _, large, _ = start_dnslab_resolver(
        procs, DNSLAB, knot.addr, {"max-udp-size": 65536}, name="large"
    )
    mid = dns.message.make_query("mid.lab.example.", "TXT", use_edns=0, payload=4096).to_wire()
    assert dns.message.from_wire(exchange(small, mid)).flags & dns.flags.TC
    big = dns.message.make_query("big.lab.example.", "TXT", use_edns=0, payload=65535).to_wire()
    reply = exchange(large, big)
    assert not dns.message.from_wire(reply).flags & dns.flags.TC and len(reply) > 6400


def test_access_control_spelling_and_actions_match_unbound(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    knot = lab(procs, tmp_path)
    pair = start_pair(procs, tmp_path, knot, ACL)
    fill = dns.message.make_query("a.lab.example.", "A").to_wire()
    for addr in (pair.ours, pair.theirs):
        assert shape(exchange(addr, fill))[0] == "NOERROR"  # 127.0.0.1: allowed (default)

    def rd0(name: str) -> bytes:
        q = dns.message.make_query(name, "A")
        q.flags &= ~dns.flags.RD
        return q.to_wire()

    cases = {
        "recursive": fill,
        "rd0 cached": rd0("a.lab.example."),
        "rd0 not cached": rd0("nope.lab.example."),
    }
    seen: dict[tuple[str, str, str], str | tuple[str, str, int, int]] = {}
    for source in ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        for label, wire in cases.items():
            for side, addr in (("ours", pair.ours), ("unbound", pair.theirs)):
                reply = exchange(addr, wire, source, timeout=1.0 if source == "127.0.0.3" else 3.0)
                seen[(source, label, side)] = "dropped" if dropped(reply, wire) else shape(reply)
            ours, theirs = seen[(source, label, "ours")], seen[(source, label, "unbound")]
            assert outcome(ours) == outcome(theirs), (source, label, ours, theirs)
    assert seen[("127.0.0.2", "recursive", "unbound")] == ("REFUSED", "QR RD", 0, 0)
    # what each action means, as both do it
    assert seen[("127.0.0.1", "rd0 cached", "ours")][0] == "REFUSED"  # allow: RD=0 refused
    assert seen[("127.0.0.2", "recursive", "ours")] == ("REFUSED", "QR RD", 0, 0)  # refuse
    assert seen[("127.0.0.3", "recursive", "ours")] == "dropped"  # deny
    assert seen[("127.0.0.4", "rd0 cached", "ours")][:1] == ("NOERROR",)  # allow_snoop
    assert seen[("127.0.0.4", "rd0 not cached", "ours")][:1] == ("SERVFAIL",)
    assert seen[("127.0.0.5", "rd0 not cached", "ours")][:1] == ("NXDOMAIN",)  # allow_setrd
    # TCP: deny closes the connection, refuse answers REFUSED
    assert tcp_exchange(pair.ours, fill, "127.0.0.3") == b""
    assert shape(tcp_exchange(pair.ours, fill, "127.0.0.2"))[0] == "REFUSED"
    assert metric(pair.metrics, "dnslab_resolver_rejected_total", reason="denied") >= 4
    assert metric(pair.metrics, "dnslab_resolver_rejected_total", reason="refused") >= 4


def test_by_default_only_loopback_may_ask(tmp_path: Path) -> None:
    """Unbound's default (loopback allowed, the rest refused) is ours; a rule with an action
    Unbound does not have is refused at start, naming the option and the action."""
    argv = [DNSLAB, "resolver", "--print-settings", "-o", "access-control=10.0.0.0/8 allw"]
    bad = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1
    assert "access-control" in bad.stderr and "unknown action 'allw'" in bad.stderr
    acl = AccessControl()
    assert acl.action("127.9.9.9") == "allow" and acl.action("::1") == "allow"
    assert acl.action("192.0.2.1") == "refuse" and acl.action("2001:db8::1") == "refuse"


def _query(name: str, qtype: str, **kw: object) -> dns.message.Message:
    return dns.message.make_query(name, qtype, **kw)  # type: ignore[arg-type]


def _with(
    msg: dns.message.Message, *, flags: int = 0, clear: int = 0, opcode: int | None = None
) -> bytes:
    msg.flags = (msg.flags | flags) & ~clear
    if opcode is not None:
        msg.set_opcode(dns.opcode.Opcode(opcode))
    return msg.to_wire()


def test_what_cannot_be_forwarded_is_refused_like_unbound(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    knot = lab(procs, tmp_path)
    pair = start_pair(procs, tmp_path, knot, [])
    fill(pair)
    a = "a.lab.example."
    cases: dict[str, bytes] = {
        "QR=1": _with(_query(a, "A"), flags=dns.flags.QR),
        "RD=0": _with(_query(a, "A"), clear=dns.flags.RD),
        "RD=0 EDNS": _with(_query(a, "A", use_edns=0), clear=dns.flags.RD),
        "CH TXT version.bind": _query("version.bind.", "TXT", rdclass="CH").to_wire(),
        "CH TXT id.server": _query("id.server.", "TXT", rdclass="CH").to_wire(),
        "CH TXT authors.bind": _query("authors.bind.", "TXT", rdclass="CH").to_wire(),
        "CH A": _query(a, "A", rdclass="CH").to_wire(),
        "HS A": _query(a, "A", rdclass="HS").to_wire(),
        "NONE A": _query(a, "A", rdclass="NONE").to_wire(),
        "class 42": _query(a, "A", rdclass=42).to_wire(),
        "AXFR": _query("lab.example.", "AXFR").to_wire(),
        "IXFR": _query("lab.example.", "IXFR").to_wire(),
        "NOTIFY": _with(_query(a, "A", use_edns=0), opcode=dns.opcode.NOTIFY),
        "EDNS version 1": _query(a, "A", use_edns=1).to_wire(),
        "no question": (lambda w: w[:4] + b"\0\0" + w[6:12])(_query(a, "A").to_wire()),
    }
    for label, wire in cases.items():
        ours, theirs = exchange(pair.ours, wire), exchange(pair.theirs, wire)
        if dropped(ours, wire) or dropped(theirs, wire):
            assert dropped(ours, wire) and dropped(theirs, wire), label
            continue
        assert shape(ours) == shape(theirs), (label, shape(ours), shape(theirs))
    assert dropped(exchange(pair.ours, cases["QR=1"]), cases["QR=1"])  # was: FORMERR
    assert metric(pair.metrics, "dnslab_resolver_rejected_total", reason="response") >= 1
    # versions differ by design: ours names dnslab
    version = dns.message.from_wire(exchange(pair.ours, cases["CH TXT version.bind"]))
    assert "dnslab" in version.answer[0][0].to_text()
    # opcodes Unbound answers in a shape strict clients reject (UPDATE: its zone echoed as an A
    # question) get a bare NOTIMP header from us, which parses
    for opcode in (dns.opcode.UPDATE, dns.opcode.STATUS, dns.opcode.IQUERY):
        wire = _with(_query(a, "A"), opcode=opcode)
        reply = exchange(pair.ours, wire)
        assert shape(reply) == ("NOTIMP", "QR RD", 0, 0), opcode


def dribbler(addr: str) -> socket.socket:
    host, _, port = addr.rpartition(":")
    s = socket.create_connection((host, int(port)), timeout=3)
    s.setblocking(False)
    return s


def closed_by_peer(s: socket.socket) -> bool:
    try:
        return s.recv(100) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_tcp_deadline_partial_data_cannot_extend(procs: ProcessGroup, tmp_path: Path) -> None:
    """A client sends a header announcing 300 bytes, then one byte every 100 ms (a full query
    would take 30 s): the connection is closed once tcp-idle-timeout (1 s) has passed since it
    opened, not re-armed by each byte; a well-behaved client is answered meanwhile."""
    knot = lab(procs, tmp_path)
    idle = 1.0
    _, ours, metrics = start_dnslab_resolver(
        procs, DNSLAB, knot.addr, {"tcp-idle-timeout": int(idle * 1000)}
    )
    s = dribbler(ours)
    opened = time.monotonic()
    s.send(b"\x01\x2c")  # length 300
    state = {"closed_at": 0.0, "bytes": 0}

    def dribble() -> bool:
        if closed_by_peer(s):
            state["closed_at"] = time.monotonic()
            return True
        try:
            s.send(b"x")
            state["bytes"] += 1
        except OSError:
            state["closed_at"] = time.monotonic()
            return True
        return False

    try:
        wait_for(dribble, idle + 3, "the dribbling connection closed", interval=0.1)
    finally:
        s.close()
    took = state["closed_at"] - opened
    assert idle - 0.05 <= took <= idle + 1.5, f"closed after {took:.2f}s"
    assert state["bytes"] >= 5  # bytes kept coming, and did not extend the deadline
    reply = tcp_exchange(ours, dns.message.make_query("a.lab.example.", "A").to_wire())
    assert shape(reply)[0] == "NOERROR"
    assert metric(metrics, "dnslab_resolver_rejected_total", reason="tcp_timeout") >= 1


class Holder(threading.Thread):
    """A busy TCP client: whole queries one after another on one connection, four in flight
    (pipelined), so the server always has the next one buffered and the connection keeps its
    slot even under the shortest (200 ms) deadline."""

    IN_FLIGHT = 4

    def __init__(self, addr: str) -> None:
        super().__init__(daemon=True)
        host, _, port = addr.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=3)
        self.stop = threading.Event()
        self.answered = 0
        self.error: Exception | None = None

    def run(self) -> None:
        wire = dns.message.make_query("a.lab.example.", "A").to_wire()
        framed = len(wire).to_bytes(2, "big") + wire
        buffered = b""
        try:
            self.sock.sendall(framed * self.IN_FLIGHT)
            while not self.stop.is_set():
                while len(buffered) < 2 or len(buffered) < 2 + int.from_bytes(buffered[:2], "big"):
                    chunk = self.sock.recv(65535)
                    if not chunk:
                        raise ConnectionError("closed by the server")
                    buffered += chunk
                buffered = buffered[2 + int.from_bytes(buffered[:2], "big") :]
                self.answered += 1
                self.sock.sendall(framed)
        except Exception as exc:
            self.error = exc
        finally:
            self.sock.close()


def test_tcp_connection_limit(procs: ProcessGroup, tmp_path: Path) -> None:
    """incoming-num-tcp 2: two busy connections hold both slots; a third and fourth are
    closed at once (and counted) while the two keep being answered; then a client gets in."""
    knot = lab(procs, tmp_path)
    _, ours, metrics = start_dnslab_resolver(procs, DNSLAB, knot.addr, {"incoming-num-tcp": 2})
    holders = [Holder(ours), Holder(ours)]
    for h in holders:
        h.start()
    try:
        wait_for(lambda: all(h.answered for h in holders), 5, "both holders answered")
        extra = [dribbler(ours) for _ in range(2)]
        try:
            wait_for(lambda: all(closed_by_peer(s) for s in extra), 3, "extra connections closed")
        finally:
            for s in extra:
                s.close()
        assert metric(metrics, "dnslab_resolver_rejected_total", reason="tcp_limit") == 2
        assert metric(metrics, "dnslab_resolver_tcp_connections") == 2
        assert [h.error for h in holders] == [None, None]
    finally:
        for h in holders:
            h.stop.set()
            h.join(5)
    wait_for(lambda: metric(metrics, "dnslab_resolver_tcp_connections") == 0, 5, "slots free")
    reply = tcp_exchange(ours, dns.message.make_query("a.lab.example.", "A").to_wire())
    assert shape(reply)[0] == "NOERROR"


def test_tcp_deadline_shrinks_as_slots_fill_like_unbound(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """incoming-num-tcp 4, tcp-idle-timeout 30 s: two idle connections keep their 30 s (half
    the slots still free); the third, which leaves 25 % free, gets Unbound's cut deadline
    (0.2 % of 30 s, at least 200 ms) and is closed long before 30 s while the two stay open."""
    knot = lab(procs, tmp_path)
    options = {"incoming-num-tcp": 4, "tcp-idle-timeout": 30000}
    _, ours, metrics = start_dnslab_resolver(procs, DNSLAB, knot.addr, options)
    held = []
    try:
        for n in range(1, 3):
            held.append(dribbler(ours))
            wait_for(lambda n=n: metric(metrics, "dnslab_resolver_tcp_connections") == n, 5, "held")
        third = dribbler(ours)
        opened = time.monotonic()
        try:
            wait_for(lambda: closed_by_peer(third), 5, "the third connection closed")
        finally:
            third.close()
        took = time.monotonic() - opened
        assert 0.15 <= took < 5, took
        assert not any(closed_by_peer(s) for s in held)
    finally:
        for s in held:
            s.close()
