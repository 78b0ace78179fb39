"""Zone loading: file:line problems, semantic checks, nothing half-loaded."""

from __future__ import annotations

from pathlib import Path

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
