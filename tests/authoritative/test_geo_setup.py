"""Loading lab.toml + zones for the server: service names must fit the zone data."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from authoritative.geo_zones import GeoSetup
from authoritative.state import ServingState
from lab.errors import ConfigError, ZoneError

REPO = Path(__file__).resolve().parents[2]
ZONE = (REPO / "zones/lab.example.zone").read_text()


def setup(tmp_path: Path, zone: str = ZONE, **replace: str) -> GeoSetup:
    (tmp_path / "z.zone").write_text(zone)
    text = (REPO / "lab.toml").read_text().replace("zones/lab.example.zone", "z.zone")
    for old, new in replace.items():
        text = text.replace(old, new)
    (tmp_path / "lab.toml").write_text(text)
    args = argparse.Namespace(config=str(tmp_path / "lab.toml"), zone=[])
    return GeoSetup(args, ServingState({}))


def test_the_default_lab_loads(tmp_path: Path) -> None:
    cfg, state = setup(tmp_path).load()
    assert [z.to_text() for z in state.zones] == ["lab.example."]
    assert cfg.services["www"].name == "www.lab.example."


def test_service_name_with_static_records_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"services.www.name: 'www.lab.example.' also has records in"
    ):
        setup(tmp_path, ZONE + "www IN A 127.0.0.9\n").load()


def test_service_name_below_a_delegation_is_refused(tmp_path: Path) -> None:
    zone = ZONE + "sub IN NS ns.sub\nns.sub IN A 127.0.0.53\n"
    s = setup(tmp_path, zone, **{'name = "www.lab.example."': 'name = "www.sub.lab.example."'})
    with pytest.raises(ConfigError, match=r"is below the delegation sub.lab.example."):
        s.load()


def test_a_broken_zone_file_names_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(ZoneError, match=r"z.zone:\d+"):
        setup(tmp_path, ZONE + "bad IN A 999.1.1.1\n").load()


def test_admin_state_file_round_trip_and_errors(tmp_path: Path) -> None:
    from authoritative.geo_zones import read_admin_state, write_admin_state

    regions = {"us-east": 1, "eu-west": 1}
    path = tmp_path / "state" / "admin_state.json"
    assert read_admin_state(path, regions) == {}  # no file yet: no overrides
    write_admin_state(path, {"eu-west": False})
    assert path.read_text() == '{\n  "eu-west": "down"\n}\n'
    assert read_admin_state(path, regions) == {"eu-west": False}
    for text, message in [
        ("[1]", "expected an object"),
        ("{", "not JSON"),
        ('{"mars": "down"}', "mars: unknown region (known: us-east, eu-west)"),
        ('{"eu-west": "sideways"}', 'expected "up" or "down"'),
    ]:
        path.write_text(text)
        with pytest.raises(ConfigError, match=re.escape(message)):
            read_admin_state(path, regions)


def test_setup_reads_the_admin_state(tmp_path: Path) -> None:
    (tmp_path / "admin_state.json").write_text('{"ap-south": "down"}')
    s = setup(
        tmp_path, **{'quorum = "majority"': 'quorum = "majority"\nadmin_state = "admin_state.json"'}
    )
    s.load()
    assert s.forced == {"ap-south": False}
