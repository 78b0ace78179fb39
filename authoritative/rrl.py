"""Response rate limiting over UDP, with Knot DNS 3.2's ``mod-rrl`` semantics (pure: ``now`` in).

Every reply about to go out over UDP is classified (as Knot's ``rrl_classify``) into a bucket:

* the source network: the client address masked to ``ipv4_prefix`` (/24) or ``ipv6_prefix``
  (/56); the source address, never ECS;
* a response class: positive, NODATA ("empty"), NXDOMAIN, error (any other rcode), ANY
  query, large (a reply of 1024 bytes or more);
* a name: the qname for positive, empty, ANY and large replies; the zone for NXDOMAIN (the
  SOA owner in the authority section: random names under one zone share a bucket), the root
  for errors.

A bucket is a token bucket: ``rate_limit`` tokens a second, holding at most 4 seconds' worth
(Knot's ``RRL_CAPACITY``), one token per reply. With no token left the reply is *limited*:
dropped, except that every ``slip``-th limited reply of the bucket goes out *slipped*: the
header (TC=1, rcode and AA kept), the question and our OPT, nothing else, so a real client
retries over TCP (never limited). ``slip = 0`` drops them all, ``slip = 1`` slips them all.
Knot slips each limited reply with probability 1/slip; dnslab counts, so a test can tell.
Buckets live in a table of ``table_size`` slots indexed by a hash of the key; two keys that
share a slot share a bucket, tokens and all (as in Knot). Sources in ``whitelist`` are never limited.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Literal

from authoritative.settings import RrlSettings

CAPACITY = 4.0  # seconds of tokens a bucket holds (Knot: RRL_CAPACITY)
LARGE = 1024  # a reply this long or longer is of class "large" (Knot: RRL_PSIZE_LARGE)
ANY = 255
TC = 0x02  # in the third header byte

Decision = Literal["send", "slip", "drop"]
CLASSES = {"positive": 1, "empty": 2, "nxdomain": 3, "error": 4, "any": 5, "large": 6}


@dataclass(slots=True)
class Bucket:
    key: tuple[bytes, int, bytes]
    tokens: float
    at: float
    limited: int = 0  # limited replies so far (for every slip-th)


def _name_end(wire: bytes, pos: int) -> int:
    while pos < len(wire):
        length = wire[pos]
        if length == 0:
            return pos + 1
        if length >= 0xC0:
            return pos + 2
        pos += length + 1
    raise ValueError("name overruns the reply")


def _read_name(wire: bytes, pos: int) -> bytes:
    """The (possibly compressed) name at ``pos`` as lower-case uncompressed wire bytes."""
    out = bytearray()
    for _ in range(128):
        length = wire[pos]
        if length >= 0xC0:
            pos = (length & 0x3F) << 8 | wire[pos + 1]
            continue
        out += wire[pos : pos + length + 1]
        if length == 0:
            return bytes(out).lower()
        pos += length + 1
    raise ValueError("compression loop")


def classify(reply: bytes) -> tuple[int, bytes]:
    """(class, name) of a reply, as Knot's mod-rrl sees it."""
    rcode = reply[3] & 0xF
    if reply[4:6] == b"\x00\x00":
        return CLASSES["error"], b"\x00"
    qend = _name_end(reply, 12) + 4
    qname = reply[12 : qend - 4].lower()
    qtype = reply[qend - 4] << 8 | reply[qend - 3]
    ancount = reply[6] << 8 | reply[7]
    nscount = reply[8] << 8 | reply[9]
    if rcode == 3:
        zone = _read_name(reply, qend) if nscount and not ancount else b"\x00"
        return CLASSES["nxdomain"], zone
    if rcode != 0:
        return CLASSES["error"], b"\x00"
    if len(reply) >= LARGE:
        return CLASSES["large"], qname
    if qtype == ANY:
        return CLASSES["any"], qname
    return (CLASSES["positive"] if ancount else CLASSES["empty"]), qname


def slipped(reply: bytes) -> bytes:
    """The truncated reply Knot sends for a slip: TC=1, header kept, question + OPT only."""
    qd = reply[4] << 8 | reply[5]
    pos = 12
    for _ in range(qd):
        pos = _name_end(reply, pos) + 4
    qend = pos
    counts = [reply[6] << 8 | reply[7], reply[8] << 8 | reply[9], reply[10] << 8 | reply[11]]
    opt = b""
    for _ in range(sum(counts)):
        start = pos
        pos = _name_end(reply, pos)
        rtype, _cls, _ttl, rdlen = struct.unpack("!HHIH", reply[pos : pos + 10])
        pos += 10 + rdlen
        if rtype == 41:
            opt = reply[start:pos]
    head = reply[:2] + bytes((reply[2] | TC, reply[3])) + reply[4:6]
    return head + b"\x00\x00\x00\x00\x00" + (b"\x01" if opt else b"\x00") + reply[12:qend] + opt


class RateLimiter:
    def __init__(self, settings: RrlSettings) -> None:
        self.settings = settings
        self.rate = float(settings.rate_limit)
        self.table: list[Bucket | None] = [None] * settings.table_size
        self.whitelist = tuple(ipaddress.ip_network(n) for n in settings.whitelist)
        self.v4_mask = (0xFFFFFFFF << (32 - settings.ipv4_prefix)) & 0xFFFFFFFF
        self.v6_mask = ((1 << 128) - 1) ^ ((1 << (128 - settings.ipv6_prefix)) - 1)
        self.slipped = 0
        self.dropped = 0
        self._exempt: dict[str, bool] = {}

    def netblock(self, source: str) -> bytes:
        address = ipaddress.ip_address(source)
        if address.version == 4:
            return (int(address) & self.v4_mask).to_bytes(4, "big")
        return (int(address) & self.v6_mask).to_bytes(16, "big")

    def exempt(self, source: str) -> bool:
        hit = self._exempt.get(source)
        if hit is None:
            address = ipaddress.ip_address(source)
            hit = any(address in net for net in self.whitelist)
            if len(self._exempt) > 65536:
                self._exempt.clear()
            self._exempt[source] = hit
        return hit

    def decide(self, reply: bytes, source: str, now: float) -> Decision:
        """Send, slip or drop this reply to ``source`` at ``now`` (seconds, monotonic)."""
        if self.whitelist and self.exempt(source):
            return "send"
        try:
            cls, name = classify(reply)
        except (ValueError, IndexError):
            cls, name = CLASSES["error"], b"\x00"
        key = (self.netblock(source), cls, name)
        slot = hash(key) % len(self.table)
        bucket = self.table[slot]
        cap = self.rate * CAPACITY
        if bucket is None:
            bucket = self.table[slot] = Bucket(key, cap, now)
        else:  # a colliding key shares the bucket (as in Knot): no fresh tokens by collision
            bucket.key = key
            bucket.tokens = min(cap, bucket.tokens + max(0.0, now - bucket.at) * self.rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return "send"
        bucket.limited += 1
        slip = self.settings.slip
        if slip and bucket.limited % slip == 0:
            self.slipped += 1
            return "slip"
        self.dropped += 1
        return "drop"
