"""Zone transfer messages (pure): SOA first and last, packing, IXFR serial arithmetic."""

from __future__ import annotations

import dns.message
import dns.rdatatype
import dns.rrset
import pytest

from authoritative.transfer import BadIxfr, newer, records, transfer
from authoritative.zonefile import load_zone
from tests.conftest import REPO

ZONE = load_zone(REPO / "zones" / "example.com.zone", None).zone


def test_records_are_the_zone_between_two_soas() -> None:
    rrs = list(records(ZONE))
    assert rrs[0] == rrs[-1] == ZONE.soa
    assert sum(rr.rdtype == dns.rdatatype.SOA for rr in rrs) == 2
    assert len(rrs) == ZONE.records + 1  # every record once, the SOA twice


def test_a_big_zone_is_split_into_messages_of_at_most_64_kb() -> None:
    from authoritative.transfer import messages

    text = '"' + "x" * 200 + '"'
    many = [dns.rrset.from_text(f"n{i}.example.com.", 60, "IN", "TXT", text) for i in range(600)]
    out = messages(7, 0, ZONE.origin, dns.rdatatype.AXFR, iter(many))  # ~130 KB of records
    assert len(out) >= 2 and all(len(m) <= 65535 for m in out)
    parsed = [dns.message.from_wire(m) for m in out]
    assert sum(len(m.answer) for m in parsed) == 600 and all(m.id == 7 for m in parsed)
    assert all(m.question[0].name == ZONE.origin for m in parsed)


@pytest.mark.parametrize(
    ("ours", "theirs", "expected"),
    [(2, 1, True), (1, 2, False), (5, 5, False), (1, 2**32 - 1, True), (2**31 + 5, 5, False)],
)
def test_serial_arithmetic(ours: int, theirs: int, expected: bool) -> None:
    assert newer(ours, theirs) is expected


def ixfr(serial: int | None) -> bytes:
    q = dns.message.make_query("example.com.", "IXFR")
    if serial is not None:
        soa = f"ns1.example.com. h.example.com. {serial} 1 1 1 1"
        q.authority.append(dns.rrset.from_text("example.com.", 0, "IN", "SOA", soa))
    wire = q.to_wire()
    assert isinstance(wire, bytes)
    return wire


def test_ixfr_up_to_date_or_over_udp_is_our_soa_alone() -> None:
    serial = int(ZONE.soa[0].serial)
    for wire, tcp in ((ixfr(serial), True), (ixfr(serial), False), (ixfr(1), False)):
        (only,) = transfer(wire, ZONE, dns.rdatatype.IXFR, tcp)
        assert dns.message.from_wire(only).answer == [ZONE.soa]
    full = transfer(ixfr(1), ZONE, dns.rdatatype.IXFR, True)
    assert len(dns.message.from_wire(full[0], one_rr_per_rrset=True).answer) > 2
    with pytest.raises(BadIxfr):
        transfer(ixfr(None), ZONE, dns.rdatatype.IXFR, True)
