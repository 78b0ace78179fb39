"""A bounded mutation fuzzer for running DNS servers over UDP and TCP.

Seed queries (valid, built with dnspython) are mutated: bit flips, byte overwrites, cuts,
insertions, deletions, splices with another seed, header counts and 16-bit fields set to edge
values. Each packet goes to the server from its own UDP socket (or in pipelined TCP frames);
every reply must be well formed:

* at least a header, QR set, the query's ID;
* the query's question echoed byte for byte when the reply has one (a reply whose question
  differs answers something else); only FORMERR/NOTIMP/REFUSED replies may leave it out;
* it parses under dnspython (``dns.message.from_wire``);
* UDP: at most one reply per packet;
* a packet that is itself a response (QR=1, a few percent of them) gets no reply at all.

Silence is always allowed (a server may drop garbage). Between batches a normal query must be
answered over UDP and TCP, and the process must still be alive: a crash fails at once.

Used by tests/integration/test_fuzz_servers.py (a few seconds, fixed seeds) and by
bench/fuzz_servers.py (``--seconds``, any seed) for longer runs.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rcode

NO_QUESTION_OK = {dns.rcode.FORMERR, dns.rcode.NOTIMP, dns.rcode.REFUSED}


def seed_queries(names: Sequence[str]) -> list[bytes]:
    """Valid queries for ``names``: plain, EDNS with DO/NSID/ECS (v4 and v6), several types,
    CH TXT, NOTIFY and UPDATE opcodes, and QDCOUNT = 0."""
    out: list[bytes] = []
    for i, name in enumerate(names):
        for qtype in ("A", "AAAA", "MX", "TXT", "SOA", "NS", "ANY", "CNAME"):
            out.append(dns.message.make_query(name, qtype, use_edns=None).to_wire())
        ecs4 = dns.edns.ECSOption(f"127.{i % 4}.9.0", 24)
        ecs6 = dns.edns.ECSOption("2001:db8::", 56)
        nsid = dns.edns.GenericOption(dns.edns.NSID, b"")
        for opts in ([], [ecs4], [ecs6], [nsid, ecs4], [dns.edns.GenericOption(10, b"\1" * 8)]):
            m = dns.message.make_query(name, "A", use_edns=0, want_dnssec=bool(i % 2), options=opts)
            out.append(m.to_wire())
        notify = dns.message.make_query(name, "SOA")
        notify.set_opcode(dns.opcode.NOTIFY)
        out.append(notify.to_wire())
    out.append(dns.message.make_query("version.bind.", "TXT", "CH").to_wire())
    out.append(dns.message.make_query("id.server.", "TXT", "CH").to_wire())
    out.append(struct.pack("!HHHHHH", 0x4242, 0x2800, 0, 0, 0, 0))  # UPDATE, no zone
    out.append(struct.pack("!HHHHHH", 0x4343, 0, 0, 0, 0, 1) + b"\0\0\x29\x04\xd0" + b"\0" * 6)
    return out


RESPONSE_SHARE = 0.05  # packets sent with QR=1
LINGER = 0.02  # after a UDP reply, how long a duplicate reply is waited for
EDGE16 = (0, 1, 2, 0x00FF, 0x7FFF, 0x8000, 0xFFFF)


def mutate(rng: random.Random, seeds: Sequence[bytes]) -> bytes:
    """One mutated packet. QR is cleared, except in one packet of RESPONSE_SHARE: those are
    responses, which must never be answered (RFC 1035 7.3; Unbound and Knot drop them)."""
    wire = bytearray(rng.choice(seeds))
    for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
        op = rng.randrange(8)
        at = rng.randrange(len(wire)) if wire else 0
        if op == 0 and wire:
            wire[at] ^= 1 << rng.randrange(8)
        elif op == 1 and wire:
            wire[at] = rng.choice((0, 0x3F, 0x40, 0x7F, 0x80, 0xC0, 0xFF, rng.randrange(256)))
        elif op == 2:
            del wire[at:]
        elif op == 3:
            wire[at:at] = rng.randbytes(rng.randrange(1, 16))
        elif op == 4 and wire:
            del wire[at : at + rng.randrange(1, 8)]
        elif op == 5:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            wire = wire[:at] + bytearray(other[cut:])
        elif op == 6 and len(wire) >= 12:
            pos = rng.choice((4, 6, 8, 10))  # a section count
            wire[pos : pos + 2] = struct.pack("!H", rng.choice(EDGE16))
        elif op == 7 and len(wire) >= 14:
            pos = rng.randrange(12, len(wire) - 1)  # any 16-bit field after the header
            wire[pos : pos + 2] = struct.pack("!H", rng.choice(EDGE16))
    if len(wire) >= 3:
        wire[2] = wire[2] | 0x80 if rng.random() < RESPONSE_SHARE else wire[2] & 0x7F
    return bytes(wire)


def _question(wire: bytes) -> bytes | None:
    """The question section's bytes (uncompressed name + type + class), None if it has none."""
    if len(wire) < 12 or wire[4:6] != b"\x00\x01":
        return None
    pos = 12
    while pos < len(wire):
        length = wire[pos]
        if length == 0:
            end = pos + 5
            return wire[12:end] if end <= len(wire) else None
        if length > 63:
            return None
        pos += length + 1
    return None


def reply_problem(query: bytes, reply: bytes) -> str | None:
    """Why ``reply`` is not a well-formed answer to ``query`` (None: it is)."""
    if len(query) >= 3 and query[2] & 0x80:
        return "a response (QR=1) was answered"
    if len(reply) < 12:
        return f"reply of {len(reply)} bytes, shorter than a header"
    if not reply[2] & 0x80:
        return "reply without QR"
    if len(query) >= 2 and reply[:2] != query[:2]:
        return f"reply ID {reply[:2].hex()} to query ID {query[:2].hex()}"
    rcode = reply[3] & 0x0F
    asked, answered = _question(query), _question(reply)
    if answered is not None and asked is not None and answered != asked:
        return f"question {answered.hex()} in the reply, {asked.hex()} asked"
    if answered is None and asked is not None and rcode not in NO_QUESTION_OK:
        return f"rcode {rcode} without the question"
    if answered is not None and asked is None:
        return "a question in the reply to a query that had none we can read"
    try:
        dns.message.from_wire(reply)
    except Exception as exc:
        return f"dnspython cannot parse the reply: {type(exc).__name__}: {exc}"
    return None


@dataclass
class Finding:
    transport: str
    query: bytes
    reply: bytes
    problem: str

    def __str__(self) -> str:
        return (
            f"{self.transport}: {self.problem}\n  query {self.query.hex()}\n  reply "
            f"{self.reply[:200].hex()}"
        )


@dataclass
class Stats:
    sent: int = 0
    replies: int = 0
    silent: int = 0
    findings: list[Finding] = field(default_factory=list)

    def add(self, other: Stats) -> None:
        self.sent += other.sent
        self.replies += other.replies
        self.silent += other.silent
        self.findings += other.findings


def fuzz_udp(
    addr: tuple[str, int],
    rng: random.Random,
    seeds: Sequence[bytes],
    count: int,
    wait: float,
    in_flight: int = 128,
) -> Stats:
    """``count`` mutated packets, each from its own socket, ``in_flight`` at a time; replies are
    collected for ``wait`` seconds after each send (silence is fine)."""
    stats = Stats()
    live: dict[int, tuple[socket.socket, bytes, float, list[bytes]]] = {}

    def finish(fd: int) -> None:
        s, q, _, got = live.pop(fd)
        s.close()
        if not got:
            stats.silent += 1
        if len(got) > 1:
            stats.findings.append(Finding("udp", q, got[1], f"{len(got)} replies to one packet"))
        for r in got:
            problem = reply_problem(q, r)
            if problem:
                stats.findings.append(Finding("udp", q, r, problem))

    try:
        while stats.sent < count or live:
            while stats.sent < count and len(live) < in_flight:
                q = mutate(rng, seeds)
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                # connected: only the server's datagrams arrive (on a shared machine another
                # test's readiness probe once hit this ephemeral port and looked like a reply)
                s.connect(addr)
                s.send(q)
                live[s.fileno()] = (s, q, time.monotonic() + wait, [])
                stats.sent += 1
            soonest = min(deadline for _, _, deadline, _ in live.values())
            ready, _, _ = select.select(
                [s for s, *_ in live.values()], [], [], max(0.0, soonest - time.monotonic())
            )
            for s in ready:
                try:
                    data = s.recv(65535)
                except OSError:  # ICMP unreachable: the server is gone, the checker will say
                    continue
                entry = live[s.fileno()]
                entry[3].append(data)
                stats.replies += 1
                if len(entry[3]) == 1:  # answered: linger only briefly for a second reply
                    live[s.fileno()] = (entry[0], entry[1], time.monotonic() + LINGER, entry[3])
            now = time.monotonic()
            for fd in [fd for fd, (_, _, deadline, _) in live.items() if deadline <= now]:
                finish(fd)
    finally:
        for s, *_ in live.values():
            s.close()
    return stats


def _frames(buf: bytes) -> tuple[list[bytes], bytes]:
    out = []
    while len(buf) >= 2:
        size = buf[0] << 8 | buf[1]
        if len(buf) < 2 + size:
            break
        out.append(buf[2 : 2 + size])
        buf = buf[2 + size :]
    return out, buf


def fuzz_tcp(
    addr: tuple[str, int],
    rng: random.Random,
    seeds: Sequence[bytes],
    connections: int,
    per_connection: int,
    wait: float,
) -> Stats:
    """``connections`` concurrent TCP connections, each with ``per_connection`` pipelined
    mutated queries (correctly framed: framing abuse is the robustness suite's job); every
    reply must answer one of the queries sent on that connection."""
    batches = [[mutate(rng, seeds) for _ in range(per_connection)] for _ in range(connections)]
    stats = Stats()
    with ThreadPoolExecutor(max_workers=connections) as pool:
        for one in pool.map(lambda qs: _tcp_connection(addr, qs, wait), batches):
            stats.add(one)
    return stats


def _tcp_connection(addr: tuple[str, int], queries: list[bytes], wait: float) -> Stats:
    stats = Stats(sent=len(queries))
    buf = b""
    try:
        with socket.create_connection(addr, timeout=2.0) as s:
            s.sendall(b"".join(struct.pack("!H", len(q)) + q for q in queries))
            s.settimeout(wait)  # idle this long: no more replies are coming
            while len(_frames(buf)[0]) < len(queries):
                try:
                    data = s.recv(65535)
                except (TimeoutError, ConnectionResetError):
                    break
                if not data:
                    break
                buf += data
    except ConnectionRefusedError:
        raise
    except OSError:  # the server may close a connection that sent garbage
        pass
    replies, rest = _frames(buf)
    stats.replies += len(replies)
    stats.silent += max(0, len(queries) - len(replies))
    if rest:
        stats.findings.append(Finding("tcp", b"", rest, "a partial frame at the end"))
    for r in replies:
        candidates = [q for q in queries if q[:2] == r[:2]]
        problems = [reply_problem(q, r) for q in candidates]
        if not candidates:
            stats.findings.append(Finding("tcp", b"", r, "reply ID matches no query sent"))
        elif all(problems):
            stats.findings.append(Finding("tcp", candidates[0], r, str(problems[0])))
    return stats


def answers(addr: tuple[str, int], name: str, timeout: float = 3.0) -> bool:
    """A normal query for ``name`` gets a reply over UDP and over TCP."""
    q = dns.message.make_query(name, "A")
    wire = q.to_wire()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.connect(addr)
        s.send(wire)
        try:
            while s.recv(65535)[:2] != wire[:2]:
                pass
        except TimeoutError:
            return False
    try:
        with socket.create_connection(addr, timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            head = s.recv(2)
            return len(head) == 2
    except OSError:
        return False


def run(
    addr: tuple[str, int],
    seeds: Sequence[bytes],
    healthy_name: str,
    alive: Callable[[], bool],
    seed: int,
    rounds: int,
    udp_per_round: int,
    tcp_per_round: int,
    wait: float,
) -> Stats:
    """``rounds`` of UDP and TCP fuzz, each followed by the health check (raises on a crash)."""
    rng = random.Random(seed)
    total = Stats()
    for i in range(rounds):
        total.add(fuzz_udp(addr, rng, seeds, udp_per_round, wait))
        total.add(fuzz_tcp(addr, rng, seeds, max(1, tcp_per_round // 8), 8, wait))
        if not alive():
            raise AssertionError(f"the server died in round {i} (seed {seed})")
        if not answers(addr, healthy_name):
            raise AssertionError(f"no answer to a normal query after round {i} (seed {seed})")
    return total
