"""Send one DNS query to a server and reduce the reply to a comparable, printable summary.

The summary of a reply is a list of text lines, one fact per line, sorted within each
section, so two servers can be compared with ``==`` and a failure prints a unified diff:

* header: rcode (extended rcode included), opcode, flags (QR AA TC RD RA AD CD Z), counts
* question exactly as sent back (case included)
* OPT: present or not, EDNS version, DO flag, UDP payload, options
* answer / authority / additional as RRsets: owner and rdata names compared case-insensitively,
  TTLs included; the OPT record is summarised apart from the additional section

A reply that dnspython cannot parse is summarised by its header and its length.
"""

from __future__ import annotations

import contextlib
import difflib
import select
import socket
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

TIMEOUT = 1.0
NO_REPLY = ["(no reply)"]


def send_udp(wire: bytes, addr: tuple[str, int], timeout: float = TIMEOUT) -> bytes | None:
    """Send ``wire`` as one datagram; the reply, or None if nothing came back in time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, addr)
        try:
            data, _ = s.recvfrom(65535)
        except TimeoutError:
            return None
        return data


def recv_exact(s: socket.socket, n: int) -> bytes | None:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def send_tcp(wire: bytes, addr: tuple[str, int], timeout: float = TIMEOUT) -> bytes | None:
    """Send ``wire`` framed with its 2-byte length over a fresh TCP connection."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(struct.pack("!H", len(wire)) + wire)
        try:
            head = recv_exact(s, 2)
            if head is None:
                return None
            return recv_exact(s, struct.unpack("!H", head)[0])
        except (TimeoutError, ConnectionResetError):
            return None


def send(wire: bytes, addr: tuple[str, int], transport: str) -> bytes | None:
    return send_tcp(wire, addr) if transport == "tcp" else send_udp(wire, addr)


def send_pair(
    wire: bytes, first: tuple[str, int], second: tuple[str, int], transport: str
) -> tuple[bytes | None, bytes | None]:
    """Send ``wire`` to two servers; UDP goes out to both at once so a silence costs one timeout."""
    if transport == "tcp":
        return send_tcp(wire, first), send_tcp(wire, second)
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    try:
        for s, addr in zip(socks, (first, second), strict=True):
            s.sendto(wire, addr)
        replies: list[bytes | None] = [None, None]
        deadline = time.monotonic() + TIMEOUT
        pending = set(range(2))
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            ready, _, _ = select.select([socks[i] for i in pending], [], [], left)
            for s in ready:
                i = socks.index(s)
                replies[i] = s.recv(65535)
                pending.discard(i)
        return replies[0], replies[1]
    finally:
        for s in socks:
            s.close()


def send_batch(
    packets: list[bytes], servers: list[tuple[str, int]], settle: float = TIMEOUT
) -> list[list[bytes | None]]:
    """Send every packet over UDP to every server at once; replies[i][j] is server j's to packet i.

    Each (packet, server) pair gets its own socket, so replies cannot be confused; after the
    last send the sockets are read until each has a reply or ``settle`` seconds pass.
    """
    socks = [[socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in servers] for _ in packets]
    try:
        replies: list[list[bytes | None]] = [[None] * len(servers) for _ in packets]
        where = {}
        for i, wire in enumerate(packets):
            for j, addr in enumerate(servers):
                socks[i][j].sendto(wire, addr)
                where[socks[i][j]] = (i, j)
        deadline = time.monotonic() + settle
        pending = set(where)
        while pending and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select(list(pending), [], [], left)
            for s in ready:
                i, j = where[s]
                replies[i][j] = s.recv(65535)
                pending.discard(s)
        return replies
    finally:
        for row in socks:
            for s in row:
                s.close()


FLAG_NAMES = (
    ("QR", 0x8000),
    ("AA", 0x0400),
    ("TC", 0x0200),
    ("RD", 0x0100),
    ("RA", 0x0080),
    ("Z", 0x0040),
    ("AD", 0x0020),
    ("CD", 0x0010),
)


def header_lines(wire: bytes) -> list[str]:
    if len(wire) < 12:
        return [f"short reply of {len(wire)} bytes: {wire.hex()}"]
    _id, flags, qd, an, ns, ar = struct.unpack("!HHHHHH", wire[:12])
    names = " ".join(n for n, bit in FLAG_NAMES if flags & bit)
    return [
        f"opcode {dns.opcode.to_text(dns.opcode.Opcode((flags >> 11) & 0xF))}",
        f"flags {names}",
        f"counts qd={qd} an={an} ns={ns} ar={ar}",
    ]


def rrset_lines(section: str, rrsets: Iterable[dns.rrset.RRset]) -> list[str]:
    lines = []
    for rrset in rrsets:
        owner = rrset.name.to_text().lower()
        kind = f"{dns.rdataclass.to_text(rrset.rdclass)} {dns.rdatatype.to_text(rrset.rdtype)}"
        for rdata in rrset:
            # names inside rdata (CNAME/NS/MX/SRV/SOA targets) compared case-insensitively
            text = rdata.to_text()
            if rdata.rdtype not in (dns.rdatatype.TXT, dns.rdatatype.CAA):
                text = text.lower()
            lines.append(f"{section}: {owner} {rrset.ttl} {kind} {text}")
    return sorted(lines)


def skip_name(wire: bytes, pos: int) -> int:
    """The offset just past the (possibly compressed) name at ``pos``."""
    while True:
        length = wire[pos]
        if length >= 0xC0:
            return pos + 2
        pos += 1 + length
        if length == 0:
            return pos


def raw_opts(wire: bytes) -> list[tuple[int, int, bytes]]:
    """Every OPT record on the wire as (class=payload, ttl, rdata), found without dnspython.

    Read by hand so that a reply whose OPT dnspython rejects (e.g. a malformed ECS echo) is
    still compared option by option.
    """
    qd, an, ns, ar = struct.unpack("!HHHH", wire[4:12])
    pos = 12
    for _ in range(qd):
        pos = skip_name(wire, pos) + 4
    found = []
    for i in range(an + ns + ar):
        pos = skip_name(wire, pos)
        rdtype, rdclass, ttl, rdlen = struct.unpack("!HHIH", wire[pos : pos + 10])
        pos += 10
        if rdtype == 41 and i >= an + ns:
            found.append((rdclass, ttl, wire[pos : pos + rdlen]))
        pos += rdlen
    return found


def read_name(wire: bytes, pos: int) -> str:
    """The (possibly compressed) name at ``pos`` as lower-case text, for summaries only."""
    labels = []
    for _ in range(128):
        length = wire[pos]
        if length >= 0xC0:
            pos = ((length & 0x3F) << 8) | wire[pos + 1]
            continue
        if length == 0:
            break
        labels.append(wire[pos + 1 : pos + 1 + length].decode("latin-1").lower())
        pos += 1 + length
    return ".".join(labels) + "."


def split_tsig(wire: bytes) -> tuple[bytes, str | None]:
    """A reply without its trailing TSIG record (ARCOUNT adjusted), and that record summarised.

    dnspython cannot parse a signed message without the key; the fields of a TSIG error reply
    (algorithm, time, fudge, MAC size, original ID, error, other data) are compared as text.
    """
    qd, an, ns, ar = struct.unpack("!HHHH", wire[4:12])
    if ar == 0:
        return wire, None
    pos = 12
    for _ in range(qd):
        pos = skip_name(wire, pos) + 4
    last = pos
    for _ in range(an + ns + ar):
        last = pos
        pos = skip_name(wire, pos)
        rdtype, _rdclass, _ttl, rdlen = struct.unpack("!HHIH", wire[pos : pos + 10])
        rdata_at = pos + 10
        pos = rdata_at + rdlen
    if rdtype != 250:
        return wire, None
    key = read_name(wire, last)
    algorithm = read_name(wire, rdata_at)
    at = skip_name(wire, rdata_at)
    signed = int.from_bytes(wire[at : at + 6], "big")
    fudge, mac_size = struct.unpack("!HH", wire[at + 6 : at + 10])
    at += 10 + mac_size
    orig_id, error, other_len = struct.unpack("!HHH", wire[at : at + 6])
    other = wire[at + 6 : at + 6 + other_len].hex()
    text = (
        f"tsig: key {key} algorithm {algorithm} time {signed} fudge {fudge} mac {mac_size} bytes "
        f"original-id {orig_id} error {error} other {other or '-'}"
    )
    head = wire[:10] + struct.pack("!H", ar - 1)
    return head + wire[12:last], text


def opt_lines(opts: list[tuple[int, int, bytes]]) -> list[str]:
    if not opts:
        return ["edns: none"]
    lines = []
    for payload, ttl, rdata in opts:
        version = (ttl >> 16) & 0xFF
        do = "DO" if ttl & 0x8000 else "-"
        lines.append(f"edns: version {version} {do} zflags={ttl & 0x7FFF:#06x} payload {payload}")
        pos = 0
        while pos + 4 <= len(rdata):
            code, length = struct.unpack("!HH", rdata[pos : pos + 4])
            lines.append(f"edns option {code} {rdata[pos + 4 : pos + 4 + length].hex()}")
            pos += 4 + length
        if pos != len(rdata):
            lines.append(f"edns trailing bytes {rdata[pos:].hex()}")
    return lines


def summarize(wire: bytes | None) -> list[str]:
    """The comparable lines of one reply (see the module docstring)."""
    if wire is None:
        return list(NO_REPLY)
    lines = header_lines(wire)
    try:
        opts = raw_opts(wire)
        wire, tsig = split_tsig(wire)
        msg = dns.message.from_wire(wire, one_rr_per_rrset=True, continue_on_error=True)
    except (dns.exception.DNSException, ValueError, IndexError, struct.error) as exc:
        rcode = wire[3] & 0x0F if len(wire) >= 4 else -1
        return [*lines, f"rcode {rcode} (unparsed: {type(exc).__name__}, {len(wire)} bytes)"]
    ext = opts[0][1] >> 24 if opts else 0
    lines.insert(0, f"rcode {dns.rcode.to_text(dns.rcode.Rcode((ext << 4) | (wire[3] & 0x0F)))}")
    lines += [
        f"question: {q.name.to_text()} {dns.rdataclass.to_text(q.rdclass)} "
        f"{dns.rdatatype.to_text(q.rdtype)}"
        for q in msg.question
    ]
    lines += opt_lines(opts)
    lines += rrset_lines("answer", msg.answer)
    lines += rrset_lines("authority", msg.authority)
    lines += rrset_lines("additional", msg.additional)
    lines += [f"parse error: {err.exception!r}" for err in msg.errors]
    if tsig:
        lines.append(tsig)
    return lines


@dataclass
class Comparison:
    """The summaries of Knot's reply and ours to the same bytes, and a readable diff."""

    knot: list[str]
    ours: list[str]
    ignored: list[str] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        return self.knot == self.ours

    def diff(self) -> str:
        return "\n".join(
            difflib.unified_diff(self.knot, self.ours, "knot", "dnslab", lineterm="", n=50)
        )


def drop_lines(lines: list[str], prefixes: Iterable[str]) -> list[str]:
    """``lines`` without those starting with any of ``prefixes`` (facts a case ignores)."""
    keep = []
    pre = tuple(prefixes)
    for line in lines:
        if not line.startswith(pre):
            keep.append(line)
    return keep


def reply_id_matches(query: bytes, reply: bytes | None) -> bool:
    return reply is None or len(query) < 2 or reply[:2] == query[:2]


def parse_or_none(wire: bytes | None) -> dns.message.Message | None:
    if wire is None:
        return None
    with contextlib.suppress(dns.exception.DNSException, ValueError):
        return dns.message.from_wire(wire)
    return None
