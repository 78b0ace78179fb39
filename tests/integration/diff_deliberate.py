"""Deliberate, documented differences from Knot DNS 3.2: where dnslab follows the RFC instead.

Each rule recognises a query by its bytes (read here by hand, independently of the server's
parser) and says what dnslab answers instead of Knot's reply, derived from Knot's own
behaviour so that the rest of the reply is still compared line by line:

* ``lax-ecs`` (RFC 7871 §6, §7.1.1): an ECS option whose ADDRESS has more octets than SOURCE
  PREFIX-LENGTH needs, or bits set beyond it, MUST/SHOULD be FORMERR. Knot 3.2 accepts it and
  echoes the bad ADDRESS, which dnspython cannot parse. dnslab answers exactly what Knot
  answers to the same query with that option made plainly invalid (family 7): FORMERR, our
  OPT without options, after the checks Knot makes first.
* ``update-zone-section`` (RFC 2136 §2.3, §3.1.1): an UPDATE whose zone section is not type
  SOA of a real class is FORMERR (NOTAUTH for class ANY/NONE SOA). Knot echoes that zone
  section, and a strict client (dnspython's UpdateMessage) rejects the reply; dnslab sends the
  same reply without the zone section (QDCOUNT 0).

A rule's expectation includes that dnslab's reply parses under dnspython.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.message

from tests.integration.dnsdiff import send, summarize

UPDATE = 5
SOA = 6
META_CLASSES = (254, 255)


@dataclass(frozen=True)
class Deliberate:
    rule: str
    reason: str
    # (query, transport, Knot's address, Knot's summary) -> the summary dnslab must give
    expected: Callable[[bytes, str, tuple[str, int], list[str]], list[str]]


def _skip_name(wire: bytes, pos: int) -> int:
    for _ in range(128):
        length = wire[pos]
        if length >= 0xC0:
            return pos + 2
        if length > 63:
            raise ValueError("bad label")
        pos += 1 + length
        if length == 0:
            return pos
    raise ValueError("name too long")


def last_ecs_option(wire: bytes) -> tuple[int, bytes] | None:
    """(offset of the option's body, body) of the last ECS option of the query's OPT, if any."""
    try:
        qd, an, ns, ar = struct.unpack("!HHHH", wire[4:12])
        pos = 12
        for _ in range(qd):
            pos = _skip_name(wire, pos) + 4
        found = None
        for i in range(an + ns + ar):
            pos = _skip_name(wire, pos)
            rdtype, _rdclass, _ttl, rdlen = struct.unpack("!HHIH", wire[pos : pos + 10])
            pos += 10
            end = pos + rdlen
            if end > len(wire):
                return None
            if rdtype == 41 and i >= an + ns:
                at = pos
                while at + 4 <= end:
                    code, length = struct.unpack("!HH", wire[at : at + 4])
                    if code == 8 and at + 4 + length <= end:
                        found = (at + 4, wire[at + 4 : at + 4 + length])
                    at += 4 + length
            pos = end
        return found
    except (ValueError, IndexError, struct.error):
        return None


def ecs_is_lax(body: bytes) -> bool:
    """Valid but for extra ADDRESS octets or bits beyond the prefix (what Knot 3.2 accepts)."""
    if len(body) < 4:
        return False
    family, source, scope = struct.unpack("!HBB", body[:4])
    width = {1: 32, 2: 128}.get(family)
    if width is None or source > width or scope > width:
        return False
    address = body[4:]
    need = (source + 7) // 8
    if len(address) < need:
        return False
    if len(address) > need:
        return True
    return bool(source % 8 and address[need - 1] & (0xFF >> (source % 8)))


def _ecs_made_invalid(
    wire: bytes, transport: str, knot: tuple[str, int], knot_lines: list[str]
) -> list[str]:
    found = last_ecs_option(wire)
    assert found is not None
    at, _body = found
    rewritten = wire[:at] + b"\x00\x07" + wire[at + 2 :]  # family 7: Knot FORMERRs it too
    return summarize(send(rewritten, knot, transport))


def _without_zone_section(
    wire: bytes, transport: str, knot: tuple[str, int], knot_lines: list[str]
) -> list[str]:
    out = []
    for line in knot_lines:
        if line.startswith(("question:", "parse error:")):
            continue
        out.append(line.replace("counts qd=1 ", "counts qd=0 "))
    return out


LAX_ECS = Deliberate(
    "lax-ecs",
    "RFC 7871 §6/§7.1.1: ECS ADDRESS longer than SOURCE PREFIX-LENGTH allows, or bits set "
    "beyond it, is FORMERR (Knot 3.2 accepts and echoes it; dnspython cannot parse the echo)",
    _ecs_made_invalid,
)
UPDATE_ZONE = Deliberate(
    "update-zone-section",
    "RFC 2136 §2.3: an UPDATE reply's zone section must be one SOA of a real class; Knot "
    "echoes any question there and dnspython rejects the reply, dnslab leaves it out",
    _without_zone_section,
)


def deliberate_differences(wire: bytes) -> list[Deliberate]:
    """The documented differences that apply to this query, in the order they apply."""
    rules = []
    found = last_ecs_option(wire)
    if found is not None and ecs_is_lax(found[1]):
        rules.append(LAX_ECS)
    is_update = len(wire) >= 12 and not wire[2] & 0x80 and (wire[2] >> 3) & 0xF == UPDATE
    if is_update and wire[4:6] == b"\x00\x01":
        try:
            qend = _skip_name(wire, 12) + 4
            qtype, qclass = struct.unpack("!HH", wire[qend - 4 : qend])
        except (ValueError, IndexError, struct.error):
            return rules
        if qtype != SOA or qclass in META_CLASSES:
            rules.append(UPDATE_ZONE)
    return rules


def expected_summary(
    wire: bytes, transport: str, knot: tuple[str, int], knot_lines: list[str]
) -> tuple[list[str], list[Deliberate]]:
    """What dnslab's reply must summarise to, given Knot's, and the rules that made it so."""
    rules = deliberate_differences(wire)
    for rule in rules:
        knot_lines = rule.expected(wire, transport, knot, knot_lines)
    return knot_lines, rules


def parses_strictly(reply: bytes | None) -> bool:
    """dnspython parses the whole reply (TSIG records read, not validated: keyring=False)."""
    if reply is None:
        return True
    try:
        dns.message.from_wire(reply, keyring=False)
    except dns.exception.DNSException:
        return False
    return True
