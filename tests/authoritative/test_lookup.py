"""The pure lookup, one test per branch of RFC 1034 §4.3.2 as Knot DNS 3.2 answers it."""

from __future__ import annotations

import dns.name
import dns.rdatatype
import pytest

from authoritative.answer import NOERROR, NXDOMAIN, REQUIRED, Answer
from authoritative.lookup import lookup
from authoritative.zone import Zone
from tests.authoritative.zonedata import zone


@pytest.fixture(scope="module")
def z() -> Zone:
    return zone()


def ask(z: Zone, name: str, qtype: str) -> Answer:
    return lookup(z, dns.name.from_text(name, z.origin), dns.rdatatype.from_text(qtype))


def texts(rrsets: tuple[object, ...]) -> list[str]:
    return [str(r) for r in rrsets]


def test_positive_answer_is_authoritative_with_no_authority(z: Zone) -> None:
    a = ask(z, "www", "A")
    assert (a.rcode, a.aa, a.authority) == (NOERROR, True, ())
    assert texts(a.answer) == [
        "www.test.example. 3600 IN A 192.0.2.80\nwww.test.example. 3600 IN A 192.0.2.81"
    ]


def test_matching_is_case_insensitive(z: Zone) -> None:
    assert ask(z, "WwW", "A").answer == ask(z, "www", "A").answer


def test_cname_chain_is_chased_inside_the_zone(z: Zone) -> None:
    a = ask(z, "alias", "A")
    assert [r.rdtype for r in a.answer] == [dns.rdatatype.CNAME] * 2 + [dns.rdatatype.A]
    assert a.rcode == NOERROR and a.aa


def test_cname_to_outside_stops(z: Zone) -> None:
    a = ask(z, "outside", "A")
    assert [r.rdtype for r in a.answer] == [dns.rdatatype.CNAME]
    assert a.authority == ()


def test_dangling_cname_is_nxdomain_with_the_cname(z: Zone) -> None:
    a = ask(z, "dangling", "A")
    assert a.rcode == NXDOMAIN
    assert [r.rdtype for r in a.answer] == [dns.rdatatype.CNAME]
    assert a.authority[0].rdtype == dns.rdatatype.SOA


def test_cname_loop_lists_each_cname_once(z: Zone) -> None:
    a = ask(z, "loop1", "A")
    assert [str(r.name) for r in a.answer] == ["loop1.test.example.", "loop2.test.example."]


def test_qtype_cname_returns_the_cname_only(z: Zone) -> None:
    a = ask(z, "ftp", "CNAME")
    assert len(a.answer) == 1 and a.answer[0].rdtype == dns.rdatatype.CNAME


def test_nodata_carries_soa_with_negative_ttl(z: Zone) -> None:
    a = ask(z, "www", "MX")
    assert (a.rcode, a.answer) == (NOERROR, ())
    assert a.authority[0].rdtype == dns.rdatatype.SOA
    assert a.authority[0].ttl == 300  # min(SOA TTL 3600, MINIMUM 300)


def test_nxdomain_carries_soa(z: Zone) -> None:
    a = ask(z, "nope", "A")
    assert (a.rcode, a.aa, a.authority[0].ttl) == (NXDOMAIN, True, 300)


def test_empty_non_terminal_is_nodata(z: Zone) -> None:
    for name in ("b.c", "c", "_udp"):
        a = ask(z, name, "A")
        assert (a.rcode, a.answer) == (NOERROR, ()), name


def test_wildcard_synthesizes_the_query_name(z: Zone) -> None:
    a = ask(z, "x.y.wild", "A")
    assert str(a.answer[0].name) == "x.y.wild.test.example."
    assert a.answer[0][0].address == "192.0.2.99"


def test_wildcard_nodata(z: Zone) -> None:
    a = ask(z, "x.wild", "MX")
    assert (a.rcode, a.answer) == (NOERROR, ())


def test_existing_name_blocks_the_wildcard(z: Zone) -> None:
    assert ask(z, "host.wild", "A").answer == ()  # NODATA: the name exists
    assert ask(z, "below.host.wild", "A").rcode == NXDOMAIN  # closest encloser host.wild has no *


def test_wildcard_cname_is_chased(z: Zone) -> None:
    a = ask(z, "any.cname", "A")
    assert str(a.answer[0].name) == "any.cname.test.example."
    assert [r.rdtype for r in a.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]


def test_referral_at_and_below_a_delegation(z: Zone) -> None:
    for name in ("sub", "deep.sub", "ns.sub"):
        a = ask(z, name, "A")
        assert (a.rcode, a.aa, a.answer) == (NOERROR, False, ()), name
        assert str(a.authority[0].name) == "sub.test.example."
        assert {str(r.name) for r in a.additional} == {"ns.sub.test.example.", "ns1.test.example."}
        glue = dict(zip((str(r.name) for r in a.additional), a.extra_flags, strict=True))
        assert glue["ns.sub.test.example."] & REQUIRED and not glue["ns1.test.example."] & REQUIRED


def test_ds_at_the_delegation_is_answered_from_the_parent(z: Zone) -> None:
    a = ask(z, "sub", "DS")
    assert (a.aa, a.authority[0].rdtype) == (True, dns.rdatatype.SOA)
    assert ask(z, "x.sub", "DS").aa is False  # below the cut: referral


def test_no_wildcard_below_a_delegation(z: Zone) -> None:
    assert ask(z, "x.sub", "A").authority[0].rdtype == dns.rdatatype.NS


def test_cname_into_a_delegation_keeps_aa_and_refers(z: Zone) -> None:
    a = ask(z, "todeleg", "A")
    assert a.aa and a.answer[0].rdtype == dns.rdatatype.CNAME
    assert a.authority[0].rdtype == dns.rdatatype.NS


def test_any_returns_one_rrset_the_lowest_type(z: Zone) -> None:
    a = ask(z, "@", "ANY")
    assert [r.rdtype for r in a.answer] == [dns.rdatatype.A]


def test_additional_addresses_of_mx_srv_ns_targets(z: Zone) -> None:
    mx = ask(z, "@", "MX")
    assert [(str(r.name), r.rdtype) for r in mx.additional] == [
        ("mail.test.example.", dns.rdatatype.A),
        ("mail.test.example.", dns.rdatatype.AAAA),
    ]
    srv = ask(z, "_sip._udp", "SRV")
    assert [str(r.name) for r in srv.additional] == ["sip.test.example."]
    ns = ask(z, "@", "NS")
    assert [str(r.name) for r in ns.additional] == ["ns1.test.example."]  # ns2 is out of zone


def test_dname_synthesizes_a_cname(z: Zone) -> None:
    a = ask(z, "host.dn", "A")
    assert [r.rdtype for r in a.answer] == [dns.rdatatype.DNAME, dns.rdatatype.CNAME]
    assert str(a.answer[1][0].target) == "host.target.example."


def test_rrsig_and_nsec_at_a_cname_owner_are_nodata(z: Zone) -> None:
    for qtype in ("RRSIG", "NSEC"):
        a = ask(z, "dangling", qtype)
        assert (a.rcode, a.answer, a.authority[0].rdtype) == (NOERROR, (), dns.rdatatype.SOA)
