"""The queries of the differential suite: each one reaches one branch of an authoritative server.

The zones are in ``tests/data/differential/``; a case's ``id`` names what it exercises. Every
query is built once, as bytes, and the very same bytes go to Knot and to dnslab.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import dns.edns
import dns.flags
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

QID = 0x4242
EDNS_PAYLOAD = 1232


@dataclass(frozen=True)
class Case:
    id: str
    wire: bytes
    transport: str = "udp"
    # compare the answer RRs without their rdata (e.g. CH TXT version.bind names the server)
    rdata: bool = True


def query(
    name: str,
    rdtype: str | int = "A",
    rdclass: str | int = "IN",
    *,
    rd: bool = False,
    edns: int | None = 0,
    payload: int = EDNS_PAYLOAD,
    do: bool = False,
    options: list[dns.edns.Option] | None = None,
    flags: int = 0,
) -> bytes:
    """Query bytes; by default like ``kdig +norec`` (EDNS 0, payload 1232, RD clear)."""
    qname = dns.name.from_text(name)
    msg = dns.message.make_query(
        qname,
        dns.rdatatype.RdataType.make(rdtype),
        dns.rdataclass.RdataClass.make(rdclass),
        use_edns=edns if edns is not None else False,
        payload=payload,
        want_dnssec=do,
        options=options,
        id=QID,
        flags=(dns.flags.RD if rd else 0) | flags,
    )
    wire = msg.to_wire()
    assert wire is not None
    return wire


def header(
    flags: int = 0, qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, qid: int = QID
) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qd, an, ns, ar)


def wire_name(name: str) -> bytes:
    wire = dns.name.from_text(name).to_wire()
    assert wire is not None
    return wire


def question(name: str, rdtype: int = 1, rdclass: int = 1) -> bytes:
    return wire_name(name) + struct.pack("!HH", rdtype, rdclass)


def opt_rr(
    payload: int = EDNS_PAYLOAD,
    ext_rcode: int = 0,
    version: int = 0,
    flags: int = 0,
    rdata: bytes = b"",
    owner: bytes = b"\0",
    rdlen: int | None = None,
) -> bytes:
    ttl = (ext_rcode << 24) | (version << 16) | flags
    length = len(rdata) if rdlen is None else rdlen
    return owner + struct.pack("!HHIH", 41, payload, ttl, length) + rdata


def option(code: int, data: bytes) -> bytes:
    return struct.pack("!HH", code, len(data)) + data


def with_opcode(opcode: int, name: str = "example.com.", edns: bool = True) -> bytes:
    """A message with ``opcode`` and one SOA question (NOTIFY-shaped), with or without OPT."""
    if edns:
        return header(flags=opcode << 11, ar=1) + question(name, 6) + opt_rr()
    return header(flags=opcode << 11) + question(name, 6)


def positive_cases() -> list[Case]:
    pairs = [
        ("example.com.", "SOA"),
        ("example.com.", "NS"),
        ("example.com.", "A"),
        ("example.com.", "AAAA"),
        ("example.com.", "MX"),
        ("example.com.", "TXT"),
        ("example.com.", "CAA"),
        ("www.example.com.", "A"),
        ("www.example.com.", "AAAA"),
        ("ns1.example.com.", "A"),
        ("mail.example.com.", "AAAA"),
        ("_sip._tcp.example.com.", "SRV"),
        ("esc.example.com.", "TXT"),
        ("txt-case.example.com.", "TXT"),
        ("example.net.", "SOA"),
        ("example.net.", "NS"),
        ("www.example.net.", "A"),
    ]
    cases = [Case(f"positive-{n.rstrip('.')}-{t}", query(n, t)) for n, t in pairs]
    cases += [
        Case("positive-no-edns", query("www.example.com.", "A", edns=None)),
        Case("positive-rd-set", query("www.example.com.", "A", rd=True)),
        Case("positive-do-set", query("www.example.com.", "A", do=True)),
        Case("positive-cd-ad-set", query("www.example.com.", "A", flags=0x0030)),
        Case("positive-z-bit-set", query("www.example.com.", "A", flags=0x0040)),
        Case("positive-tc-bit-in-query", query("www.example.com.", "A", flags=0x0200)),
        Case("positive-tcp", query("example.com.", "MX"), "tcp"),
        Case("case-mixed-qname", query("WwW.ExAmPlE.cOm.", "A")),
        Case("case-mixed-apex-mx", query("EXAMPLE.COM.", "MX")),
        Case("case-mixed-owner-in-zone", query("TXT-CASE.example.com.", "TXT")),
        Case("case-mixed-nxdomain", query("NoSuch.Example.COM.", "A")),
    ]
    return cases


def cname_cases() -> list[Case]:
    pairs = [
        ("alias", "A"),
        ("alias", "AAAA"),
        ("alias", "CNAME"),
        ("alias", "TXT"),
        ("alias2", "A"),
        ("ext", "A"),
        ("out", "A"),
        ("loop1", "A"),
        ("self", "A"),
        ("dangling", "A"),
        ("cmx", "AAAA"),
        ("cmx", "TXT"),
        ("cwild", "A"),
        ("cdeleg", "A"),
    ]
    cases = [Case(f"cname-{n}-{t}", query(f"{n}.example.com.", t)) for n, t in pairs]
    cases += [
        Case("cname-into-other-zone", query("back.example.net.", "A")),
        Case("cname-child-to-parent", query("host.sub.example.com.", "A")),
        Case("cname-loop-tcp", query("loop1.example.com.", "A"), "tcp"),
    ]
    return cases


def wildcard_cases() -> list[Case]:
    pairs = [
        ("foo.wild", "A", "a"),
        ("a.b.wild", "A", "multi-label"),
        ("foo.wild", "TXT", "txt"),
        ("foo.wild", "MX", "mx-additional"),
        ("foo.wild", "AAAA", "nodata"),
        ("foo.wild", "CNAME", "cname-nodata"),
        ("exists.wild", "A", "blocked-by-existing"),
        ("exists.wild", "MX", "existing-nodata"),
        ("foo.exists.wild", "A", "below-existing-nxdomain"),
        ("ent.wild", "A", "ent-nodata"),
        ("x.ent.wild", "A", "below-ent-nxdomain"),
        ("*.wild", "A", "literal-asterisk"),
        ("*.wild", "AAAA", "literal-asterisk-nodata"),
        ("wild", "A", "parent-ent"),
        ("foo.cw", "A", "cname"),
        ("foo.cw", "CNAME", "cname-qtype-cname"),
        ("foo.cwx", "A", "cname-out-of-zone"),
        ("x.deleg", "A", "below-delegation"),
    ]
    return [Case(f"wildcard-{label}", query(f"{n}.example.com.", t)) for n, t, label in pairs]


def structure_cases() -> list[Case]:
    pairs: list[tuple[str, str, str | int]] = [
        ("ent-nodata", "ent.example.com.", "A"),
        ("ent-deep", "b.ent.example.com.", "A"),
        ("ent-below-real", "a.b.ent.example.com.", "A"),
        ("ent-sibling-nxdomain", "c.b.ent.example.com.", "A"),
        ("nxdomain", "nx.example.com.", "A"),
        ("nxdomain-deep", "a.b.nx.example.com.", "A"),
        ("nxdomain-other-apex-soa-ttl", "nx.example.net.", "A"),
        ("nodata-mx", "www.example.com.", "MX"),
        ("nodata-apex-srv", "example.com.", "SRV"),
        ("nodata-apex-ds", "example.com.", "DS"),
        ("nodata-other-apex-ttl", "www.example.net.", "MX"),
        ("nodata-unknown-type", "www.example.com.", 65534),
        ("nodata-rrsig", "www.example.com.", "RRSIG"),
        ("nodata-nsec", "www.example.com.", "NSEC"),
        ("nodata-dnskey", "example.com.", "DNSKEY"),
        ("type0-notimp", "www.example.com.", 0),
        ("refused-unhosted", "example.org.", "A"),
        ("refused-root", ".", "SOA"),
        ("refused-parent-of-zone", "com.", "NS"),
        ("refused-suffix-lookalike", "notexample.com.", "A"),
    ]
    out = [Case(label, query(name, rdtype)) for label, name, rdtype in pairs]
    out.append(Case("nxdomain-no-edns", query("nx.example.com.", "A", edns=None)))
    return out


def delegation_cases() -> list[Case]:
    pairs = [
        ("deleg", "NS", "ns"),
        ("deleg", "A", "a"),
        ("deleg", "SOA", "soa"),
        ("deleg", "DS", "ds-at-cut"),
        ("deleg", "ANY", "any"),
        ("www.deleg", "A", "below"),
        ("a.b.deleg", "A", "deep-below"),
        ("www.deleg", "DS", "ds-below-cut"),
        ("ns1.deleg", "A", "glue-a"),
        ("ns1.deleg", "AAAA", "glue-aaaa"),
        ("nods", "DS", "no-ds-nodata"),
        ("nods", "A", "no-glue"),
        ("sibling", "A", "sibling-glue"),
        ("sub", "DS", "hosted-child-ds"),
        ("sub", "NS", "hosted-child-ns"),
        ("sub", "SOA", "hosted-child-soa"),
        ("sub", "A", "hosted-child-apex-a"),
        ("www.sub", "A", "hosted-child-www"),
        ("ns1.sub", "A", "hosted-child-ns1"),
        ("nx.sub", "A", "hosted-child-nxdomain"),
    ]
    cases = [Case(f"delegation-{label}", query(f"{n}.example.com.", t)) for n, t, label in pairs]
    cases.append(Case("delegation-tcp", query("www.deleg.example.com.", "A"), "tcp"))
    cases.append(Case("delegation-no-edns", query("www.deleg.example.com.", "A", edns=None)))
    return cases


def any_cases() -> list[Case]:
    return [
        Case("any-www-udp", query("www.example.com.", "ANY")),
        Case("any-apex-udp", query("example.com.", "ANY")),
        Case("any-apex-tcp", query("example.com.", "ANY"), "tcp"),
        Case("any-cname", query("alias.example.com.", "ANY")),
        Case("any-nxdomain", query("nx.example.com.", "ANY")),
        Case("any-ent", query("ent.example.com.", "ANY")),
        Case("any-wildcard", query("foo.wild.example.com.", "ANY")),
    ]


def class_cases() -> list[Case]:
    ch = [
        ("version.bind.", "TXT", "version-bind", False),
        ("version.server.", "TXT", "version-server", False),
        ("id.server.", "TXT", "id-server", False),
        ("hostname.bind.", "TXT", "hostname-bind", False),
        ("authors.bind.", "TXT", "authors-bind", True),
        ("version.bind.", "A", "version-bind-a", True),
        ("version.bind.", "ANY", "version-bind-any", True),
        ("foo.bar.", "TXT", "other-name", True),
        ("www.example.com.", "A", "zone-name", True),
    ]
    cases = [Case(f"class-ch-{label}", query(n, t, "CH"), rdata=r) for n, t, label, r in ch]
    cases += [
        Case("class-ch-version-bind-tcp", query("version.bind.", "TXT", "CH"), "tcp", rdata=False),
        Case("class-ch-version-bind-rd", query("version.bind.", "TXT", "CH", rd=True), rdata=False),
        Case("class-any", query("www.example.com.", "A", "ANY")),
        Case("class-none", query("www.example.com.", "A", "NONE")),
        Case("class-hs", query("www.example.com.", "A", "HS")),
        Case("class-hs-version-bind", query("version.bind.", "TXT", "HS")),
        Case("class-unassigned-5", query("www.example.com.", "A", 5)),
    ]
    return cases


def opcode_cases() -> list[Case]:
    names = {1: "iquery", 2: "status", 3: "unassigned-3", 4: "notify", 5: "update", 6: "dso"}
    names[15] = "15"
    cases = [Case(f"opcode-{label}", with_opcode(code)) for code, label in names.items()]
    cases += [
        Case(f"opcode-{label}-no-edns", with_opcode(code, edns=False))
        for code, label in names.items()
    ]
    for code, label in ((4, "notify"), (5, "update")):
        for rdtype, rdclass, what in (
            (6, 3, "ch-soa"),
            (1, 1, "qtype-a"),
            (255, 1, "qtype-any"),
            (1, 3, "ch-a"),
            (6, 255, "class-any-soa"),
            (6, 254, "class-none-soa"),
        ):
            cases.append(
                Case(
                    f"opcode-{label}-{what}",
                    header(flags=code << 11) + question("example.com.", rdtype, rdclass),
                )
            )
        cases.append(
            Case(
                f"opcode-{label}-out-of-zone-a",
                header(flags=code << 11) + question("example.org.", 1),
            )
        )
        cases.append(
            Case(
                f"opcode-{label}-below-zone-soa",
                header(flags=code << 11) + question("www.example.com.", 6),
            )
        )
    cases += [
        Case("opcode-notify-unhosted", with_opcode(4, "example.org.")),
        Case("opcode-notify-aa-rd", header(flags=(4 << 11) | 0x0500) + question("example.com.", 6)),
        Case("opcode-notify-qdcount-0", header(flags=4 << 11, qd=0)),
        Case("opcode-status-qdcount-0", header(flags=2 << 11, qd=0)),
        Case("opcode-update-tcp", with_opcode(5), "tcp"),
    ]
    return cases


def edns_cases() -> list[Case]:
    big = "big.example.com."
    medium = "medium.example.com."
    ecs = dns.edns.ECSOption("192.0.2.0", 24)
    ecs_wire = b"\x00\x01\x18\x00\xc0\x00\x02"
    q_www = header(ar=1) + question("www.example.com.")
    q_nx = header(ar=1) + question("nx.example.com.")
    return [
        Case("edns-version-1-badvers", q_www + opt_rr(version=1)),
        Case("edns-version-1-nxdomain", q_nx + opt_rr(version=1)),
        Case("edns-version-255", q_www + opt_rr(version=255)),
        Case("edns-payload-0", query(medium, "TXT", payload=0)),
        Case("edns-payload-511", query(medium, "TXT", payload=511)),
        Case("edns-payload-512-medium-tc", query(medium, "TXT", payload=512)),
        Case("edns-payload-1232-medium-fits", query(medium, "TXT", payload=1232)),
        Case("edns-payload-65535-big", query(big, "TXT", payload=65535)),
        Case("edns-payload-4096-big-tc", query(big, "TXT", payload=4096)),
        Case("edns-big-tcp", query(big, "TXT", payload=4096), "tcp"),
        Case("edns-none-medium-tc", query(medium, "TXT", edns=None)),
        Case("edns-none-medium-tcp", query(medium, "TXT", edns=None), "tcp"),
        Case("edns-none-big-tcp", query(big, "TXT", edns=None), "tcp"),
        Case("huge-rrset-tcp", query("huge.example.com.", "TXT"), "tcp"),
        Case("huge-rrset-tcp-no-edns", query("huge.example.com.", "TXT", edns=None), "tcp"),
        Case("huge-rrset-udp", query("huge.example.com.", "TXT")),
        Case("huge-rrset-any-tcp", query("huge.example.com.", "ANY"), "tcp"),
        Case("edns-none-many-mx-additional", query("manymx.example.com.", "MX", edns=None)),
        Case("edns-many-mx-additional", query("manymx.example.com.", "MX")),
        Case("edns-many-mx-tcp", query("manymx.example.com.", "MX"), "tcp"),
        Case("edns-any-apex-small-payload", query("example.com.", "ANY", payload=512)),
        Case("edns-z-flags", q_www + opt_rr(flags=0x7FFF)),
        Case("edns-ext-rcode-in-query", q_www + opt_rr(ext_rcode=1)),
        Case(
            "edns-unknown-option",
            query(
                "www.example.com.",
                options=[dns.edns.GenericOption(dns.edns.OptionType(65001), b"hi")],
            ),
        ),
        Case(
            "edns-nsid-request",
            query(
                "www.example.com.", options=[dns.edns.GenericOption(dns.edns.OptionType(3), b"")]
            ),
        ),
        Case(
            "edns-cookie-client",
            query(
                "www.example.com.",
                options=[dns.edns.GenericOption(dns.edns.OptionType(10), b"\x01" * 8)],
            ),
        ),
        Case("edns-cookie-bad-length", q_www + opt_rr(rdata=option(10, b"\x01" * 5))),
        Case(
            "edns-padding",
            query(
                "www.example.com.",
                options=[dns.edns.GenericOption(dns.edns.OptionType(12), b"\0" * 32)],
            ),
        ),
        Case("edns-ecs-24", query("www.example.com.", options=[ecs])),
        Case(
            "edns-ecs-large",
            q_www
            + opt_rr(
                rdata=option(8, b"\x00\x02\x80\x00" + b"\x20" * 16) + option(65002, b"\xaa" * 1000)
            ),
        ),
        Case(
            "edns-ecs-oversized-address",
            q_www + opt_rr(rdata=option(8, b"\x00\x01\x18\x00" + b"\xc0" * 40)),
        ),
        Case(
            "edns-ecs-bad-prefix",
            q_www + opt_rr(rdata=option(8, b"\x00\x01\x21\x00\xc0\x00\x02\x01\x01")),
        ),
        Case(
            "edns-ecs-nonzero-scope",
            q_www + opt_rr(rdata=option(8, ecs_wire[:3] + b"\x18" + ecs_wire[4:])),
        ),
        Case("edns-ecs-unknown-family", q_www + opt_rr(rdata=option(8, b"\x00\x07\x00\x00"))),
        Case(
            "edns-ecs-v6-56",
            q_www + opt_rr(rdata=option(8, b"\x00\x02\x38\x00" + b"\x20\x01\x0d\xb8\x00\x00\x01")),
        ),
        Case("edns-ecs-source-0", q_www + opt_rr(rdata=option(8, b"\x00\x01\x00\x00"))),
        Case(
            "edns-ecs-v4-32", q_www + opt_rr(rdata=option(8, b"\x00\x01\x20\x00\xc0\x00\x02\x01"))
        ),
        Case(
            "edns-ecs-bits-beyond-prefix",
            q_www + opt_rr(rdata=option(8, b"\x00\x01\x14\x00\xc0\x00\xff")),
        ),
        Case(
            "edns-ecs-short-address", q_www + opt_rr(rdata=option(8, b"\x00\x01\x18\x00\xc0\x00"))
        ),
        Case("edns-ecs-nxdomain", q_nx + opt_rr(rdata=option(8, ecs_wire))),
        Case(
            "edns-ecs-refused",
            header(ar=1) + question("example.org.") + opt_rr(rdata=option(8, ecs_wire)),
        ),
        Case("edns-ecs-two-options", q_www + opt_rr(rdata=option(8, ecs_wire) * 2)),
        Case(
            "edns-ecs-with-cookie",
            q_www + opt_rr(rdata=option(10, b"\x01" * 8) + option(8, ecs_wire)),
        ),
        Case("edns-option-truncated", q_www + opt_rr(rdata=b"\x00\x0a\x00\x08\x01\x02")),
        Case("edns-opt-rdlen-too-long", q_www + opt_rr(rdata=b"\x00\x0a", rdlen=8)),
        Case("edns-opt-owner-not-root", q_www + opt_rr(owner=wire_name("example.com."))),
        Case("edns-two-opts", header(ar=2) + question("www.example.com.") + opt_rr() + opt_rr()),
        Case("edns-opt-in-answer", header(an=1) + question("www.example.com.") + opt_rr()),
        Case("edns-opt-in-authority", header(ns=1) + question("www.example.com.") + opt_rr()),
        Case("edns-qtype-opt", query("www.example.com.", 41)),
    ]


def header_cases() -> list[Case]:
    q = question("www.example.com.")
    a_rr = wire_name("www.example.com.") + struct.pack("!HHIH", 1, 1, 60, 4) + bytes([192, 0, 2, 1])
    return [
        Case("header-qdcount-0", header(qd=0)),
        Case("header-qdcount-0-with-opt", header(qd=0, ar=1) + opt_rr()),
        Case("header-qdcount-2", header(qd=2) + q + question("example.com.", 6)),
        Case("header-qdcount-2-one-present", header(qd=2) + q),
        Case("header-qr-set-no-reply", header(flags=0x8000) + q),
        Case("header-only", header()),
        Case("header-short-no-reply", header()[:7]),
        Case("header-question-truncated", header() + q[:-2]),
        Case("header-trailing-garbage", header() + q + b"\xde\xad\xbe\xef"),
        Case("header-ancount-1", header(an=1) + q + a_rr),
        Case("header-nscount-1", header(ns=1) + q + a_rr),
        Case("header-arcount-1-a-rr", header(ar=1) + q + a_rr),
        Case("header-label-too-long", header() + b"\x40" + b"a" * 64 + b"\0\0\1\0\1"),
        Case("header-bad-label-type", header() + b"\x81abc\0\0\1\0\1"),
        Case("header-pointer-loop", header() + b"\xc0\x0c\0\1\0\1"),
        Case("header-pointer-forward", header() + b"\xc0\x20\0\1\0\1" + b"\0" * 16 + b"\3www\0"),
        Case(
            "header-name-too-long",
            header()
            + b"\x3f"
            + b"a" * 63
            + b"\x3f"
            + b"b" * 63
            + b"\x3f"
            + b"c" * 63
            + b"\x3f"
            + b"d" * 63
            + b"\0\0\1\0\1",
        ),
        Case("header-axfr-udp", query("example.com.", "AXFR")),
        Case("header-ixfr-udp", query("example.com.", "IXFR")),
        Case("header-axfr-tcp", query("example.com.", "AXFR"), "tcp"),
        Case("header-maila", query("www.example.com.", "MAILA")),
        Case("header-tcp-qdcount-0", header(qd=0), "tcp"),
        Case("header-tcp-refused", query("example.org.", "A"), "tcp"),
        Case("header-tcp-trailing-garbage", header() + q + b"\xde\xad", "tcp"),
        Case("header-tcp-qdcount-2", header(qd=2) + q + question("example.com.", 6), "tcp"),
        Case("header-tcp-qr-set", header(flags=0x8000) + q, "tcp"),
        Case("header-tcp-truncated-question", header() + q[:-2], "tcp"),
        Case("header-tcp-badvers", header(ar=1) + q + opt_rr(version=1), "tcp"),
        Case("header-tcp-notify", header(flags=4 << 11) + question("example.com.", 6), "tcp"),
    ]


def additional_cases() -> list[Case]:
    pairs = [
        ("mxcname", "MX", "mx-target-cname"),
        ("mxwild", "MX", "mx-target-wildcard"),
        ("mxglue", "MX", "mx-target-glue"),
        ("nullmx", "MX", "null-mx"),
        ("cross", "A", "ns-under-other-cut"),
        ("v6only", "A", "glue-aaaa-only"),
        ("_ldap._tcp", "SRV", "srv-target-aaaa-only"),
    ]
    return [Case(f"additional-{label}", query(f"{n}.example.com.", t)) for n, t, label in pairs]


def more_cases() -> list[Case]:
    """Variants over TCP, with DO/RD, and odd owner names."""
    return [
        Case("tcp-nxdomain", query("nx.example.com.", "A"), "tcp"),
        Case("tcp-any-www", query("www.example.com.", "ANY"), "tcp"),
        Case("tcp-cname-chain", query("alias.example.com.", "A"), "tcp"),
        Case("tcp-wildcard", query("foo.wild.example.com.", "MX"), "tcp"),
        Case("tcp-no-edns-positive", query("www.example.com.", "A", edns=None), "tcp"),
        Case("do-nxdomain", query("nx.example.com.", "A", do=True)),
        Case("do-referral", query("www.deleg.example.com.", "A", do=True)),
        Case("do-cname", query("alias.example.com.", "A", do=True)),
        Case("rd-refused", query("example.org.", "A", rd=True)),
        Case("rd-nxdomain", query("nx.example.com.", "A", rd=True)),
        Case("rd-referral", query("www.deleg.example.com.", "A", rd=True)),
        Case("nodata-ns-at-leaf", query("www.example.com.", "NS")),
        Case("nodata-ds-at-leaf", query("www.example.com.", "DS")),
        Case("ds-at-cname", query("alias.example.com.", "DS")),
        Case("ds-at-wildcard", query("foo.wild.example.com.", "DS")),
        Case("soa-at-leaf", query("www.example.com.", "SOA")),
        Case("owner-escaped-dot", query("a\\.b.example.com.", "TXT")),
        Case("owner-escaped-dot-as-labels", query("a.b.example.com.", "TXT")),
        Case("owner-with-space", query("sp\\032ace.example.com.", "A")),
        Case("txt-255-octets", query("long.example.com.", "TXT")),
        Case("child-zone-no-edns", query("www.sub.example.com.", "A", edns=None)),
        Case("child-zone-nodata", query("www.sub.example.com.", "MX")),
        Case("child-zone-any", query("sub.example.com.", "ANY")),
        Case("other-apex-cname-tcp", query("back.example.net.", "A"), "tcp"),
    ]


def rr(name: str, rdtype: int, rdclass: int, rdata: bytes, ttl: int = 0) -> bytes:
    return wire_name(name) + struct.pack("!HHIH", rdtype, rdclass, ttl, len(rdata)) + rdata


def precedence_cases() -> list[Case]:
    """Queries wrong in two ways at once: which error wins (found by the seeded fuzz)."""

    def q(rdtype: int, rdclass: int = 1, flags: int = 0, opt: bytes = b"") -> bytes:
        ar = 1 if opt else 0
        return header(flags=flags, ar=ar) + question("www.example.com.", rdtype, rdclass) + opt

    v1 = opt_rr(version=1)
    ecs_bad = option(8, b"\x00\x11\x08\x00\x86")  # family 17
    ecs_good = option(8, b"\x00\x01\x20\x00\xc0\x00\x02\x01")
    a_rr = rr("www.example.com.", 1, 1, bytes([192, 0, 2, 1]))
    return [
        Case("prec-badvers-over-type0", q(0, opt=v1)),
        Case("prec-badvers-over-ixfr", q(251, opt=v1)),
        Case("prec-badvers-over-axfr", q(252, opt=v1)),
        Case("prec-badvers-over-notify", q(6, flags=4 << 11, opt=v1)),
        Case("prec-badvers-over-opcode-8", q(1, flags=8 << 11, opt=v1)),
        Case("prec-badvers-over-class-hs", q(1, 4, opt=v1)),
        Case("prec-class-over-type0", q(0, 4)),
        Case("prec-class-over-axfr", q(252, 254)),
        Case("prec-class-over-ixfr", q(251, 4)),
        Case("prec-class-over-opcode-8", q(1, 4, flags=8 << 11)),
        Case("prec-class-over-status", q(1, 254, flags=2 << 11)),
        Case("prec-class-0", q(1, 0)),
        Case("prec-opcode-8-in", q(1, 1, flags=8 << 11)),
        Case("prec-ch-ixfr", q(251, 3)),
        Case("prec-ch-axfr", q(252, 3)),
        Case("prec-ch-type0", q(0, 3)),
        Case("prec-any-class-axfr", q(252, 255)),
        Case("prec-ecs-bad-then-good", q(1, opt=opt_rr(rdata=ecs_bad + ecs_good))),
        Case("prec-ecs-good-then-bad", q(1, opt=opt_rr(rdata=ecs_good + ecs_bad))),
        Case("prec-ecs-bad-with-badvers", q(1, opt=opt_rr(version=1, rdata=ecs_bad))),
        Case("prec-ecs-bad-with-class-hs", q(1, 4, opt=opt_rr(rdata=ecs_bad))),
        Case("prec-ecs-bad-with-type0", q(0, opt=opt_rr(rdata=ecs_bad))),
        Case("prec-ecs-bad-with-notify", q(6, flags=4 << 11, opt=opt_rr(rdata=ecs_bad))),
        Case(
            "formerr-qdcount-0-with-rr",
            header(qd=0, ar=1) + rr("sibling.example.com.", 6, 3, b"\x01\x02\x03"),
        ),
        Case(
            "formerr-bad-l32-rdata-in-additional",
            header(ar=1) + question("www.example.com.") + rr(".", 105, 1, b"\0" * 5),
        ),
        Case(
            "formerr-bad-name-in-ns-rdata",
            header(ar=1) + question("www.example.com.") + rr(".", 2, 1, b"\xfe\xf8\x00"),
        ),
        Case(
            "formerr-bad-a-rdata-in-answer",
            header(an=1)
            + question("www.example.com.")
            + rr("www.example.com.", 1, 1, b"\x01\x02\x03"),
        ),
        Case("accepted-good-rr-in-answer", header(an=1) + question("www.example.com.") + a_rr),
        Case(
            "accepted-unknown-type-rr",
            header(ar=1) + question("www.example.com.") + rr(".", 65280, 1, b"\x01\x02\x03"),
        ),
        Case("rrsig-at-cname", query("alias.example.com.", "RRSIG")),
        Case("nsec-at-cname", query("alias.example.com.", "NSEC")),
        Case("rrsig-at-dangling-cname", query("dangling.example.com.", "RRSIG")),
        Case("rrsig-at-cname-loop", query("loop1.example.com.", "RRSIG")),
        Case("nsec-at-cname-to-cut", query("cdeleg.example.com.", "NSEC")),
        Case("rrsig-at-wildcard-cname", query("x.cw.example.com.", "RRSIG")),
    ]


def rdata_cases() -> list[Case]:
    """RRs of known types in a query's additional section: which RDATA Knot accepts."""
    shapes = [
        ("ipseckey-empty", 45, b""),
        ("ipseckey-1-octet", 45, b"\x01"),
        ("ipseckey-3-octets", 45, b"\x01\x02\x03"),
        ("ipseckey-ipv4-gateway", 45, b"\x0a\x01\x02\xc0\x00\x02\x01"),
        ("ipseckey-bad-gateway-type", 45, b"\x0a\x09\x02abc"),
        ("sshfp-1-octet", 44, b"\x01"),
        ("sshfp-2-octets", 44, b"\x01\x02"),
        ("dnskey-2-octets", 48, b"\x01\x00"),
        ("dnskey-4-octets", 48, b"\x01\x00\x03\x08"),
        ("rrsig-17-zero-octets", 46, b"\0" * 17),
        ("ds-4-octets", 43, b"\0" * 4),
        ("spf-empty", 99, b""),
        ("txt-empty", 16, b""),
        ("txt-string-overruns", 16, b"\x05ab"),
        ("hinfo-string-overruns", 13, b"\x01a\x05b"),
        ("naptr-4-octets", 35, b"\0" * 4),
        ("caa-short-tag", 257, b"\x00\x05issu"),
        ("svcb-3-octets", 64, b"\x00\x01\x00"),
        ("loc-15-octets", 29, b"\0" * 15),
        ("apl-3-octets", 42, b"\0" * 3),
        ("a-empty", 1, b""),
        ("aaaa-15-octets", 28, b"\0" * 15),
        ("mx-name-truncated", 15, b"\x00\x0a\x03ab"),
        ("soa-no-counters", 6, b"\x00\x00"),
        ("null-empty", 10, b""),
        ("null-3-octets", 10, b"\x01\x02\x03"),
        ("svcb-4-random-octets", 64, b"\x9c\x01\xee\x07"),
        ("svcb-bare-pointer", 64, b"\xc0\x0c"),
        ("https-4-random-octets", 65, b"\x9c\x01\xee\x07"),
        ("https-priority-and-root", 65, b"\x00\x01\x00"),
    ]
    return [
        Case(f"rdata-{label}", header(ar=1) + question("www.example.com.") + rr(".", t, 1, data))
        for label, t, data in shapes
    ]


def edns_expire_cases() -> list[Case]:
    """RFC 7314 EDNS EXPIRE: Knot answers it with the zone's SOA expire."""

    def q(name: str, rdtype: int = 1, rdclass: int = 1, data: bytes = b"") -> bytes:
        return header(ar=1) + question(name, rdtype, rdclass) + opt_rr(rdata=option(9, data))

    return [
        Case("expire-positive", q("www.example.com.")),
        Case("expire-with-data", q("www.example.com.", data=b"\0\0\0\1")),
        Case("expire-bad-length", q("www.example.com.", data=b"\0\1")),
        Case("expire-nxdomain", q("nx.example.com.")),
        Case("expire-referral", q("www.deleg.example.com.")),
        Case("expire-child-zone", q("www.sub.example.com.")),
        Case("expire-other-zone", q("www.example.net.")),
        Case("expire-refused", q("example.org.")),
        Case("expire-chaos", q("version.bind.", 16, 3)),
        Case("expire-tcp", q("www.example.com."), "tcp"),
        Case("expire-axfr-udp", q("example.net.", 252)),
        Case("expire-axfr-tcp", q("example.net.", 252), "tcp"),
        Case("expire-ixfr-udp", q("example.com.", 251)),
        Case("expire-type0", q("www.example.com.", 0)),
        Case("expire-class-any", q("www.example.com.", 1, 255)),
        Case("expire-class-none", q("www.example.com.", 1, 254)),
        Case(
            "expire-notify",
            header(flags=4 << 11, ar=1)
            + question("example.com.", 6)
            + opt_rr(rdata=option(9, b"")),
        ),
        Case(
            "expire-iquery",
            header(flags=1 << 11, ar=1)
            + question("example.com.", 6)
            + opt_rr(rdata=option(9, b"")),
        ),
        Case(
            "expire-badvers",
            header(ar=1) + question("www.example.com.") + opt_rr(version=1, rdata=option(9, b"")),
        ),
        Case(
            "expire-bad-ecs",
            header(ar=1)
            + question("www.example.com.")
            + opt_rr(rdata=option(9, b"") + option(8, b"\x00\x07\x00\x00")),
        ),
        Case("expire-truncated", q("big.example.com.", 16)),
        Case("expire-any", q("example.com.", 255)),
        Case(
            "expire-with-ecs",
            header(ar=1)
            + question("www.example.com.")
            + opt_rr(rdata=option(9, b"") + option(8, b"\x00\x01\x18\x00\xc0\x00\x02")),
        ),
    ]


def parse_order_cases() -> list[Case]:
    """Malformed records after the question, combined with answers that would be REFUSED."""
    bad_owner = b"\xff\xff" + struct.pack("!HHIH", 1, 1, 0, 0)
    return [
        Case(
            "formerr-bad-owner-in-additional",
            header(ar=1) + question("www.example.com.") + bad_owner,
        ),
        Case("formerr-bad-owner-out-of-zone", header(ar=1) + question("example.org.") + bad_owner),
        Case(
            "formerr-bad-owner-class-hs",
            header(ar=1) + question("www.example.com.", 1, 4) + bad_owner,
        ),
        Case("formerr-bad-owner-root-question", header(ar=1) + question(".", 28) + bad_owner),
        Case(
            "formerr-empty-rdata-mr",
            header(ar=1) + question("www.example.com.") + rr(".", 9, 1, b""),
        ),
        Case("qd0-trailing-garbage", header(qd=0) + b"\x00\x00\x00\x00\x00"),
        Case("qd0-ns-count-missing", header(qd=0, ns=64)),
        Case("qd0-ar-count-missing", header(qd=0, ar=1)),
        Case(
            "qd0-opt-nonroot-then-trailing",
            header(qd=0, ar=1)
            + rr("host.sub.example.com.", 41, 1, b"", ttl=0x2910)
            + b"\x00\x80\x00",
        ),
        Case("qd0-opt-then-trailing", header(qd=0, ar=1) + opt_rr() + b"\x00\x80\x00"),
        Case("qd0-good-rr", header(qd=0, an=1) + rr("www.example.com.", 1, 1, b"\x01\x02\x03\x04")),
        Case("qd1-ns-count-missing", header(ns=3) + question("www.example.com.")),
        Case("qd1-ar-count-missing", header(ar=2) + question("www.example.com.") + opt_rr()),
        Case(
            "edns-payload-1-unknown-option",
            header(ar=1)
            + question("www.example.com.")
            + opt_rr(
                payload=1,
                flags=0x8000,
                rdata=option(65181, b"\x20\xa4\x54\xe4\xce") + option(3, b""),
            ),
        ),
        Case("edns-payload-1", header(ar=1) + question("www.example.com.") + opt_rr(payload=1)),
    ]


def tsig_rr(
    key: str = "unknown-key.",
    algorithm: str = "hmac-sha256.",
    mac: bytes = b"\x5a" * 32,
    rdclass: int = 255,
    ttl: int = 0,
    cut: int = 0,
    other: bytes = b"",
    signed_at: int = 1_700_000_000,
) -> bytes:
    """A TSIG record (RFC 8945) with a fixed time; no server here knows any key.

    ``cut`` drops that many bytes from the end of the RDATA (with RDLENGTH to match).
    """
    rdata = wire_name(algorithm) + signed_at.to_bytes(6, "big")
    rdata += struct.pack("!HH", 300, len(mac)) + mac + struct.pack("!HHH", QID, 0, len(other))
    rdata = rdata[: len(rdata) - cut] + (other if not cut else b"")
    return wire_name(key) + struct.pack("!HHIH", 250, rdclass, ttl, len(rdata)) + rdata


def tsig_cases() -> list[Case]:
    www = question("www.example.com.")

    def signed(
        q: bytes = www, opt: bytes = b"", tsig: bytes | None = None, flags: int = 0
    ) -> bytes:
        extra = 2 if opt else 1
        return header(flags=flags, ar=extra) + q + opt + (tsig or tsig_rr())

    return [
        Case("tsig-unknown-key", signed()),
        Case("tsig-unknown-key-edns", signed(opt=opt_rr())),
        Case("tsig-unknown-key-tcp", signed(opt=opt_rr()), "tcp"),
        Case("tsig-unknown-key-nxdomain", signed(question("nx.example.com."))),
        Case("tsig-unknown-key-refused", signed(question("example.org."))),
        Case("tsig-unknown-key-chaos", signed(question("version.bind.", 16, 3))),
        Case("tsig-unknown-key-axfr-tcp", signed(question("example.com.", 252)), "tcp"),
        Case("tsig-unknown-key-notify", signed(question("example.com.", 6), flags=4 << 11)),
        Case("tsig-unknown-algorithm", signed(tsig=tsig_rr(algorithm="made-up-alg."))),
        Case("tsig-empty-mac", signed(tsig=tsig_rr(mac=b""))),
        Case("tsig-badvers", signed(opt=opt_rr(version=1))),
        Case("tsig-in-answer", header(an=1) + www + tsig_rr()),
        Case("tsig-in-authority", header(ns=1) + www + tsig_rr()),
        Case("tsig-not-last", header(ar=2) + www + tsig_rr() + opt_rr()),
        Case("tsig-two", header(ar=2) + www + tsig_rr() + tsig_rr()),
        Case("tsig-truncated-rdata", header(ar=1) + www + tsig_rr()[:-4]),
        Case("tsig-class-in", signed(tsig=tsig_rr(rdclass=1))),
        Case("tsig-time-zero", signed(tsig=tsig_rr(signed_at=0))),
        Case("tsig-time-max", signed(tsig=tsig_rr(signed_at=2**48 - 1))),
        Case("tsig-ttl-nonzero", signed(tsig=tsig_rr(ttl=3600))),
        Case(
            "tsig-empty-rdata", signed(tsig=wire_name("k.") + struct.pack("!HHIH", 250, 255, 0, 0))
        ),
        Case("tsig-rdata-short-by-2", signed(tsig=tsig_rr(cut=2))),
        Case("tsig-rdata-only-algorithm", signed(tsig=tsig_rr(cut=48))),
        Case(
            "tsig-mac-size-overruns",
            signed(tsig=tsig_rr(mac=b"\x01" * 4)[:-10] + b"\x00\x40" + b"\0" * 8),
        ),
        Case("tsig-other-data", signed(tsig=tsig_rr(other=b"\x00\x00\x65\x53\xf1\x00"))),
        Case(
            "tsig-compressed-owner",
            signed(tsig=b"\xc0\x0c" + tsig_rr()[len(wire_name("unknown-key.")) :]),
        ),
        Case("tsig-out-of-zone-refused-tcp", signed(question("example.org.")), "tcp"),
    ]


def all_cases() -> list[Case]:
    cases = (
        positive_cases()
        + cname_cases()
        + wildcard_cases()
        + structure_cases()
        + delegation_cases()
        + any_cases()
        + class_cases()
        + opcode_cases()
        + edns_cases()
        + header_cases()
        + additional_cases()
        + more_cases()
        + precedence_cases()
        + rdata_cases()
        + edns_expire_cases()
        + parse_order_cases()
        + tsig_cases()
    )
    ids = [c.id for c in cases]
    dupes = {i for i in ids if ids.count(i) > 1}
    assert not dupes, f"duplicate case ids: {sorted(dupes)}"
    return cases
