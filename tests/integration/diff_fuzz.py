"""Seeded random queries for the differential suite: many shapes no hand-written case names.

``structured(rng)`` builds a well-formed query from the zones' names (plus random prefixes,
random letter case, names outside the zones), random types, classes, header flags and EDNS
(payload, DO, version, options such as ECS, cookie, NSID, padding). ``mutated(rng)`` flips a
few bits of such a query, so the servers' parsers meet near-miss garbage.
"""

from __future__ import annotations

import random
import struct

from tests.integration.diff_cases import QID, header, opt_rr, option, wire_name

NAMES = [
    "example.com.",
    "www.example.com.",
    "mail.example.com.",
    "ns1.example.com.",
    "alias.example.com.",
    "loop1.example.com.",
    "dangling.example.com.",
    "cmx.example.com.",
    "cdeleg.example.com.",
    "foo.wild.example.com.",
    "exists.wild.example.com.",
    "ent.wild.example.com.",
    "a.ent.wild.example.com.",
    "x.cw.example.com.",
    "b.ent.example.com.",
    "deleg.example.com.",
    "ns1.deleg.example.com.",
    "nods.example.com.",
    "sibling.example.com.",
    "sub.example.com.",
    "www.sub.example.com.",
    "host.sub.example.com.",
    "_sip._tcp.example.com.",
    "mxwild.example.com.",
    "manymx.example.com.",
    "medium.example.com.",
    "big.example.com.",
    "mxglue.example.com.",
    "a\\.b.example.com.",
    "example.net.",
    "www.example.net.",
    "back.example.net.",
    "example.org.",
    "version.bind.",
    "id.server.",
    ".",
]
TYPES = [1, 2, 5, 6, 12, 15, 16, 28, 33, 43, 46, 47, 48, 255, 257, 0, 41, 251, 252, 65535]
CLASSES = [1] * 12 + [3, 3, 255, 254, 4, 0]


def random_case(rng: random.Random, name: str) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in name)


def random_name(rng: random.Random) -> str:
    name = rng.choice(NAMES)
    roll = rng.random()
    if roll < 0.2 and name != ".":
        name = f"{rng.choice(['x', 'zz', '*', 'a.b', '_t'])}.{name}"
    return random_case(rng, name)


def random_options(rng: random.Random) -> bytes:
    out = b""
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        kind = rng.choice(("ecs4", "ecs6", "cookie", "nsid", "pad", "unknown"))
        if kind == "ecs4":
            prefix = rng.choice((0, 8, 16, 24, 32))
            addr = bytes(rng.randrange(256) for _ in range(prefix // 8))
            out += option(8, struct.pack("!HBB", 1, prefix, 0) + addr)
        elif kind == "ecs6":
            prefix = rng.choice((0, 48, 56, 64))
            addr = bytes(rng.randrange(256) for _ in range(prefix // 8))
            out += option(8, struct.pack("!HBB", 2, prefix, 0) + addr)
        elif kind == "cookie":
            out += option(10, rng.randbytes(8))
        elif kind == "nsid":
            out += option(3, b"")
        elif kind == "pad":
            out += option(12, b"\0" * rng.randrange(0, 64))
        else:
            out += option(rng.randrange(65001, 65534), rng.randbytes(rng.randrange(0, 16)))
    return out


def structured(rng: random.Random, qid: int = QID) -> bytes:
    flags = 0
    if rng.random() < 0.08:
        flags |= rng.choice((1, 2, 4, 5, 6, 9, 15)) << 11  # an opcode other than QUERY
    if rng.random() < 0.05:
        flags |= 0x0400  # AA in a query
    if rng.random() < 0.3:
        flags |= 0x0100  # RD
    if rng.random() < 0.1:
        flags |= 0x0010  # CD
    if rng.random() < 0.05:
        flags |= 0x0020  # AD
    qname = wire_name(random_name(rng))
    qtype = rng.choice(TYPES) if rng.random() < 0.9 else rng.randrange(65536)
    body = qname + struct.pack("!HH", qtype, rng.choice(CLASSES))
    if rng.random() < 0.25:
        return header(flags=flags, qid=qid) + body
    payload = rng.choice((0, 512, 1232, 1400, 4096, 65535, rng.randrange(65536)))
    edns_flags = 0x8000 if rng.random() < 0.3 else 0
    version = 1 if rng.random() < 0.03 else 0
    opt = opt_rr(payload=payload, version=version, flags=edns_flags, rdata=random_options(rng))
    return header(flags=flags, ar=1, qid=qid) + body + opt


def mutated(rng: random.Random, qid: int = QID) -> bytes:
    wire = bytearray(structured(rng, qid))
    for _ in range(rng.randrange(1, 4)):
        pos = rng.randrange(2, len(wire))  # keep the ID so replies can be matched
        wire[pos] ^= 1 << rng.randrange(8)
    return bytes(wire)


RR_TYPES = [*range(1, 66), 99, 104, 105, 106, 107, 108, 109, 249, 250, 256, 257, 32768, 32769]


def random_rr(rng: random.Random) -> bytes:
    """One resource record of a known type with random RDATA: parsers must agree on it."""
    owner = rng.choice((b"\0", b"\xc0\x0c", wire_name("x.example.com."), b"\x01a\xc0\x0c"))
    rdtype = rng.choice(RR_TYPES)
    rdclass = rng.choice((1, 1, 1, 3, 254, 255))
    roll = rng.random()
    if roll < 0.3:
        rdata = b""
    elif roll < 0.5:  # a name, as many types start with one
        rdata = wire_name(rng.choice(NAMES)) + rng.randbytes(rng.randrange(0, 6))
    else:
        rdata = rng.randbytes(rng.randrange(1, 40))
    return owner + struct.pack("!HHIH", rdtype, rdclass, rng.randrange(2**32), len(rdata)) + rdata


def with_records(rng: random.Random, qid: int = QID) -> bytes:
    """A query followed by 1-3 random records in the answer, authority or additional section."""
    counts = [0, 0, 0]
    records = []
    for _ in range(rng.randrange(1, 4)):
        section = rng.randrange(3)
        counts[section] += 1
        records.append((section, random_rr(rng)))
    body = b"".join(r for _, r in sorted(records, key=lambda pair: pair[0]))
    qname = wire_name(random_name(rng)) + struct.pack("!HH", rng.choice(TYPES[:12]), 1)
    return header(0, 1, counts[0], counts[1], counts[2], qid=qid) + qname + body
