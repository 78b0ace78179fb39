"""Zone loading: file:line problems, semantic checks, nothing half-loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dns.name
import pytest

from authoritative.zonefile import load_zone, load_zone_text, load_zones, parse_zone_arg
from lab.errors import ZoneError

REPO = Path(__file__).resolve().parents[2]
HEAD = "$ORIGIN z.example.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"


def problems(text: str) -> str:
    with pytest.raises(ZoneError) as err:
        load_zone_text(text, "z.zone")
    return str(err.value)


def test_example_zone_loads_with_origin_from_the_file() -> None:
    zone = load_zone(str(REPO / "zones" / "example.com.zone")).zone
    assert zone.origin == dns.name.from_text("example.com.")
    assert zone.records > 20


def test_origin_from_the_argument() -> None:
    text = "$TTL 60\n@ SOA ns h 1 2 3 4 5\n@ NS ns\nns A 192.0.2.1\n"
    zone = load_zone_text(text, "z.zone", "other.example.").zone
    assert str(zone.origin) == "other.example."
    assert parse_zone_arg("a.example.=x.zone") == ("a.example.", "x.zone")
    assert parse_zone_arg("x.zone") == (None, "x.zone")


def test_no_origin_is_an_error() -> None:
    assert "no origin" in problems("@ 60 SOA ns h 1 2 3 4 5\n")


def test_syntax_error_names_file_and_line() -> None:
    msg = problems(HEAD + "www A not-an-address\n")
    assert msg.startswith("z.zone:6:"), msg


def test_missing_soa_and_ns() -> None:
    msg = problems("$ORIGIN z.example.\n$TTL 60\nwww A 192.0.2.1\n")
    assert "no SOA" in msg and "no NS" in msg


def test_cname_beside_other_data_names_the_line() -> None:
    msg = problems(HEAD + "www A 192.0.2.2\nwww CNAME ns\n")
    assert "z.zone:7:" in msg and "CNAME" in msg and "beside other data" in msg


def test_out_of_zone_data_is_an_error() -> None:
    msg = problems(HEAD + "www.elsewhere.example. A 192.0.2.9\n")
    assert "z.zone:6:" in msg and "outside the zone" in msg


def test_every_problem_is_reported_at_once() -> None:
    msg = problems("$ORIGIN z.example.\n$TTL 60\nx TXT t\nq.other. A 192.0.2.1\n")
    assert len(msg.splitlines()) == 3  # no SOA, no NS, out-of-zone data


def test_missing_glue_is_only_a_warning() -> None:
    loaded = load_zone_text(HEAD + "sub NS ns.sub\n", "z.zone")
    assert any("glue missing" in w and "z.zone:6" in w for w in loaded.warnings)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ZoneError, match="cannot read"):
        load_zone(str(tmp_path / "missing.zone"))


def test_load_zones_refuses_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "z.zone"
    path.write_text(HEAD)
    with pytest.raises(ZoneError, match="already loaded"):
        load_zones([str(path), str(path)])


def test_records_are_kept_in_canonical_order() -> None:
    zone = load_zone_text(HEAD + "m MX 20 b\nm MX 10 z\nm MX 10 a\n", "z.zone").zone
    mx = zone.nodes[dns.name.from_text("m.z.example.")][15]
    assert [str(r) for r in mx] == ["10 a.z.example.", "10 z.z.example.", "20 b.z.example."]


def test_include_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "part.inc").write_text("$ORIGIN inner.z.example.\nwww A 192.0.2.9\n")
    zone_file = tmp_path / "z.zone"
    zone_file.write_text(HEAD + "$INCLUDE part.inc\nafter A 192.0.2.10\n")
    zone = load_zone(str(zone_file)).zone
    names = {str(n) for n in zone.nodes}
    assert {
        "www.inner.z.example.",
        "after.z.example.",
    } <= names  # the include's $ORIGIN stays inside


def test_missing_include_names_the_line(tmp_path: Path) -> None:
    zone_file = tmp_path / "z.zone"
    zone_file.write_text(HEAD + "$INCLUDE nowhere.inc\n")
    with pytest.raises(ZoneError, match=r"z\.zone:6: \$INCLUDE nowhere\.inc: no such file"):
        load_zone(str(zone_file))


def test_ttl_mismatch_inside_an_rrset_takes_the_last_ttl() -> None:
    zone = load_zone_text(HEAD + "m 300 A 192.0.2.3\nm 600 A 192.0.2.4\n", "z.zone").zone
    assert zone.nodes[dns.name.from_text("m.z.example.")][1].ttl == 600


def test_cname_beside_other_data_is_refused_in_either_order_and_any_case() -> None:
    for extra in ("www CNAME ns\nwww A 192.0.2.2\n", "WWW A 192.0.2.2\nwww. CNAME ns\n"):
        text = HEAD.replace("ns A", "ns A") + extra.replace("www.", "www.z.example.")
        msg = problems(text)
        assert "z.zone:7:" in msg and "CNAME beside other data" in msg, msg


def test_cname_beside_dnssec_data_is_allowed() -> None:
    text = HEAD + "www CNAME ns\nwww NSEC z.example. A\n"
    zone = load_zone_text(text, "z.zone").zone
    assert zone.records == 5


def test_soa_below_the_origin_names_the_line() -> None:
    msg = problems(HEAD + "www A 192.0.2.2\nsub SOA ns h 1 2 3 4 5\n")
    assert msg.startswith("z.zone:7: SOA record below the origin at sub.z.example."), msg


TRICKY = """\
$ORIGIN t.example.
@ 3600 IN SOA ns hostmaster ( 2024010101 ; serial
        7200 900 1209600 300 )
        IN NS ns
ns      1h A 192.0.2.1
        AAAA 2001:db8::1
www     IN 60 A 192.0.2.2
www     A 192.0.2.3 ; a comment
WWW     A 192.0.2.2
txt     TXT "two words" plain "semi;colon"
txt     TXT "a\\"quote" "x" ""
multi   TXT ( "line one"
              "line two" )
abs.t.example. 120 CNAME www
$ORIGIN sub.t.example.
deep    A 192.0.2.4
        MX 10 mail
\\@at   A 192.0.2.5
$TTL 30
x       PTR www.t.example.
y       CNAME x
d       DNAME elsewhere.example.
num     TYPE65534 \\# 2 abcd
@       A 192.0.2.7
"""
OUTSIDE = "out.other.example. A 192.0.2.6\n        A 192.0.2.8\n"


def test_the_one_line_fast_path_reads_exactly_what_dnspython_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every zone in the repository and a file of unusual lines: the zone read with the fast
    path equals the zone read by dnspython's reader alone (records, TTLs, order, lines)."""
    import authoritative.zonefile as zonefile

    texts = [(TRICKY, "tricky.zone", None), (TRICKY + OUTSIDE, "outside.zone", None)]
    for path in sorted((REPO / "zones").glob("*.zone")) + sorted(
        (REPO / "tests" / "data" / "differential").glob("*.zone")
    ):
        texts.append((path.read_text(), str(path), None))

    def read(text: str, name: str, origin: str | None) -> object:
        try:
            zone = load_zone_text(text, name, origin).zone
        except ZoneError as exc:
            return str(exc)
        return [
            (str(owner), rdtype, rrset.ttl, [rd.to_text() for rd in rrset])
            for owner, node in zone.nodes.items()
            for rdtype, rrset in node.items()
        ], sorted(map(str, zone.names))

    fast_lines = 0
    commit = zonefile._Reader._commit

    def counting(self: zonefile._Reader, record: Any, line: str) -> None:
        nonlocal fast_lines
        fast_lines += 1
        commit(self, record, line)

    monkeypatch.setattr(zonefile._Reader, "_commit", counting)
    fast = [read(*t) for t in texts]
    assert fast_lines > 100  # the fast path did read most lines
    monkeypatch.setattr(zonefile._Reader, "_simple_rr_line", lambda self: False)
    slow = [read(*t) for t in texts]
    assert fast == slow
    assert isinstance(fast[0], tuple) and len(fast[0][0]) == 16, fast[0]
    assert "outside.zone:25: out.other.example. is outside the zone" in str(fast[1])
