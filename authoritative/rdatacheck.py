"""Is the RDATA of a record in a query well formed? Knot DNS 3.2's rule, so we FORMERR alike.

Each known type is a list of blocks (libknot 3.2's descriptors; most DNSSEC and newer
types are a bare remainder there, so e.g. a 1-octet DS passes): a fixed number of octets, a
domain name (compression pointers into the message allowed), NAPTR's header (two 16-bit
fields and three character-strings), or a remainder that takes whatever is left without
looking inside. Empty RDATA is malformed for a known type in class IN, except APL (RFC 2136
deletions use other classes). Unknown types accept anything.
"""

from __future__ import annotations

import dns.exception
import dns.name

NAME = -1
REST = -2
NAPTR = -3
IN = 1
APL = 42

# type -> blocks (positive numbers are fixed octet counts)
BLOCKS: dict[int, tuple[int, ...]] = {
    1: (4,),  # A
    2: (NAME,),  # NS
    3: (NAME,),  # MD (obsolete)
    4: (NAME,),  # MF
    5: (NAME,),  # CNAME
    6: (NAME, NAME, 20),  # SOA
    7: (NAME,),  # MB
    8: (NAME,),  # MG
    9: (NAME,),  # MR
    10: (REST,),  # NULL
    12: (NAME,),  # PTR
    13: (REST,),  # HINFO
    14: (NAME, NAME),  # MINFO
    15: (2, NAME),  # MX
    16: (REST,),  # TXT
    17: (NAME, NAME),  # RP
    18: (2, NAME),  # AFSDB
    21: (2, NAME),  # RT
    24: (18, NAME, REST),  # SIG
    25: (REST,),  # KEY
    26: (2, NAME, NAME),  # PX
    28: (16,),  # AAAA
    29: (16,),  # LOC
    30: (NAME, REST),  # NXT
    33: (6, NAME),  # SRV
    35: (NAPTR, NAME),  # NAPTR
    36: (2, NAME),  # KX
    37: (REST,),  # CERT
    39: (NAME,),  # DNAME
    41: (REST,),  # OPT
    42: (REST,),  # APL
    43: (REST,),  # DS
    44: (REST,),  # SSHFP
    45: (REST,),  # IPSECKEY
    46: (18, NAME, REST),  # RRSIG
    47: (NAME, REST),  # NSEC
    48: (REST,),  # DNSKEY
    49: (REST,),  # DHCID
    50: (REST,),  # NSEC3
    51: (REST,),  # NSEC3PARAM
    52: (REST,),  # TLSA
    53: (REST,),  # SMIMEA
    59: (REST,),  # CDS
    60: (REST,),  # CDNSKEY
    61: (REST,),  # OPENPGPKEY
    62: (REST,),  # CSYNC
    63: (REST,),  # ZONEMD
    64: (REST,),  # SVCB (opaque in 3.2)
    65: (REST,),  # HTTPS
    99: (REST,),  # SPF
    104: (10,),  # NID
    105: (6,),  # L32
    106: (10,),  # L64
    107: (2, NAME),  # LP
    108: (6,),  # EUI48
    109: (8,),  # EUI64
    249: (NAME, REST),  # TKEY
    250: (NAME, REST),  # TSIG
    251: (REST,),  # IXFR
    252: (REST,),  # AXFR
    255: (REST,),  # ANY
    256: (REST,),  # URI
    257: (REST,),  # CAA
}


def rdata_ok(message: bytes, rtype: int, rclass: int, start: int, rdlen: int) -> bool:
    """True when Knot would accept this RDATA (``message`` is the whole packet)."""
    blocks = BLOCKS.get(rtype)
    if blocks is None:
        return True
    if rdlen == 0:
        return rclass != IN or rtype == APL
    end = start + rdlen
    pos = start
    produced = 0  # Knot compares the decompressed length with RDLENGTH
    for block in blocks:
        if block == NAME:
            try:
                name, used = dns.name.from_wire(message[:end], pos)
            except (dns.exception.DNSException, IndexError, ValueError):
                return False
            pos += used
            produced += len(name.to_wire() or b"")
        elif block == REST:
            produced += end - pos
            pos = end
        elif block == NAPTR:
            if pos + 4 > end:
                return False
            at = pos + 4
            for _ in range(3):
                if at >= end or at + 1 + message[at] > end:
                    return False
                at += 1 + message[at]
            produced += at - pos
            pos = at
        else:
            if pos + block > end:
                return False
            pos += block
            produced += block
    return produced >= rdlen
