"""A test zone covering every branch of the lookup, as text (loaded without touching the disk)."""

from __future__ import annotations

from authoritative.zone import Zone
from authoritative.zonefile import load_zone_text

TEXT = """\
$ORIGIN test.example.
$TTL 3600
@            SOA   ns1 hostmaster 1 7200 3600 1209600 300
@            NS    ns1
@            NS    ns2.other.example.
@            MX    10 mail
@            A     192.0.2.1
@            AAAA  2001:db8::1
ns1          A     192.0.2.53
mail         A     192.0.2.25
mail         AAAA  2001:db8::25
www          A     192.0.2.80
www          A     192.0.2.81
ftp          CNAME www
alias        CNAME ftp
outside      CNAME www.other.example.
dangling     CNAME nothere
loop1        CNAME loop2
loop2        CNAME loop1
todeleg      CNAME host.sub
_sip._udp    SRV   10 60 5060 sip
sip          A     192.0.2.60
a.b.c        TXT   "deep"
*.wild       A     192.0.2.99
host.wild    TXT   "blocks the wildcard for itself and below"
*.cname      CNAME www
sub          NS    ns.sub
sub          NS    ns1
ns.sub       A     192.0.2.153
dn           DNAME target.example.
"""


def zone() -> Zone:
    return load_zone_text(TEXT, "test.zone").zone
