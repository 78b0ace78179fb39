"""Signed queries (RFC 8945): we hold no TSIG keys, so a signed query for one of our zones is
refused the way Knot DNS 3.2 refuses it: NOTAUTH with a TSIG record carrying error BADKEY.

The TSIG record (RFC 8945 §5.2.2): the query's key name and algorithm, its time signed and
fudge, an empty MAC, the query's message ID, error 17 (BADKEY), no other data; class ANY,
TTL 0. Where Knot never looks for the key (names outside our zones, class CH, BADVERS,
opcodes it does not implement) the TSIG record is ignored.
"""

from __future__ import annotations

import struct

import dns.name

TSIG_TYPE = 250
ANY_CLASS = 255
BADKEY = 17


def badkey_record(data: bytes, owner: int, start: int, end: int) -> bytes | None:
    """The TSIG record answering the query's TSIG (at ``owner``; RDATA ``start:end``).

    None if the query's TSIG RDATA is too short to copy from.
    """
    key = dns.name.from_wire(data, owner)[0]
    algorithm, used = dns.name.from_wire(data[:end], start)
    times = start + used
    if times + 8 > end:
        return None
    rdata = (
        bytes(algorithm.to_wire() or b"")
        + data[times : times + 8]  # time signed (48 bits) and fudge, as sent
        + struct.pack("!HHHH", 0, data[0] << 8 | data[1], BADKEY, 0)
    )
    head = struct.pack("!HHIH", TSIG_TYPE, ANY_CLASS, 0, len(rdata))
    return bytes(key.to_wire() or b"") + head + rdata


def append_record(reply: bytes, record: bytes) -> bytes:
    """``reply`` with one more record in its additional section."""
    arcount = (reply[10] << 8 | reply[11]) + 1
    return reply[:10] + arcount.to_bytes(2, "big") + reply[12:] + record


def tsig_rdata_ok(data: bytes, start: int, end: int) -> bool:
    """Knot's check of a query's TSIG RDATA: an algorithm name, then time signed, fudge, MAC
    size, the MAC, original ID, error and other-len all present (other data and anything after
    it are not looked at). The time is only judged against a known key: time 0 with an unknown
    key is NOTAUTH + BADKEY in Knot 3.2, like any other time."""
    try:
        used = dns.name.from_wire(data[:end], start)[1]
    except Exception:
        return False
    pos = start + used
    if pos + 10 > end:
        return False
    mac = data[pos + 8] << 8 | data[pos + 9]
    return pos + 10 + mac + 6 <= end
