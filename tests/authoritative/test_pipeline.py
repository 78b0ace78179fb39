"""The handler pipeline over several zones: the most specific zone answers; DS from the parent."""

from __future__ import annotations

import dns.name
import dns.rdataclass
import dns.rdatatype

from authoritative.answer import NOERROR, REFUSED
from authoritative.pipeline import PIPELINE, run
from authoritative.request import UDP, Request
from authoritative.state import ServingState, chaos_names
from authoritative.zonefile import load_zone_text

PARENT = """$ORIGIN p.example.
$TTL 60
@ SOA ns h 1 2 3 4 5
@ NS ns
ns A 192.0.2.1
child NS ns.child
ns.child A 192.0.2.2
child DS 12345 13 2 5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e5ca1ab1e
"""
CHILD = """$ORIGIN child.p.example.
$TTL 60
@ SOA ns h 1 2 3 4 5
@ NS ns
ns A 192.0.2.2
www A 192.0.2.80
"""


def state() -> ServingState:
    zones = [load_zone_text(text, "z").zone for text in (PARENT, CHILD)]
    return ServingState({z.origin: z for z in zones}, chaos=chaos_names("h", "v"))


def ask(name: str, qtype: str, qclass: str = "IN") -> tuple[int, bool, list[str]]:
    request = Request(
        dns.name.from_text(name),
        dns.rdatatype.from_text(qtype),
        dns.rdataclass.from_text(qclass),
        UDP,
        ("127.0.0.1", 1),
    )
    a = run(state(), request, None, PIPELINE)
    return a.rcode, a.aa, [str(r.name) + "/" + dns.rdatatype.to_text(r.rdtype) for r in a.answer]


def test_the_most_specific_zone_answers() -> None:
    assert ask("www.child.p.example.", "A") == (NOERROR, True, ["www.child.p.example./A"])
    assert ask("child.p.example.", "NS")[1] is True  # the child's apex, not the parent's referral


def test_ds_at_a_hosted_child_comes_from_the_parent() -> None:
    assert ask("child.p.example.", "DS") == (NOERROR, True, ["child.p.example./DS"])


def test_outside_every_zone_is_refused() -> None:
    assert ask("example.org.", "A")[0] == REFUSED
    assert ask("p.example.", "A", "HS")[0] == REFUSED


def test_class_any_is_answered_from_in_data() -> None:
    assert ask("www.child.p.example.", "A", "ANY")[0:2] == (NOERROR, True)


def test_chaos_names() -> None:
    assert ask("version.bind.", "TXT", "CH") == (NOERROR, False, ["version.bind./TXT"])
    assert ask("version.bind.", "A", "CH")[0] == REFUSED
