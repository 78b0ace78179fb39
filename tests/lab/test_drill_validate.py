"""Scenarios are checked against the lab before anything starts (issue 9 item 6)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lab.config import load_config
from lab.drill.runner import DrillOptions, run_drill
from lab.drill.scenario import SCENARIO_DIR, parse_scenario
from lab.drill.validate import check_scenario, check_scenario_file
from lab.errors import ConfigError
from lab.pkgdata import default_lab_toml

BASE = """
ttls = [5]
[locations]
{locations}
[profiles]
"honours-ttl" = 1
[[faults]]
at = 2.0
action = "{action}"
region = "{region}"
fault = "{fault}"
params = {params}
"""


def _scenario(
    region: str = "eu-west",
    action: str = "fault",
    fault: str = "down",
    params: str = "{}",
    locations: str = "eu = 1",
) -> str:
    return BASE.format(
        region=region, action=action, fault=fault, params=params, locations=locations
    )


def _problem(text: str) -> str:
    cfg = load_config(default_lab_toml())
    with pytest.raises(ConfigError) as exc:
        check_scenario(parse_scenario(text, "s.toml"), cfg, "s.toml")
    return str(exc.value)


def test_every_shipped_scenario_passes() -> None:
    cfg = load_config(default_lab_toml())
    for path in sorted(SCENARIO_DIR.glob("*.toml")):
        check_scenario_file(path, cfg)


def test_unknown_region_is_named_with_the_known_ones() -> None:
    msg = _problem(_scenario(region="eu-wst"))
    assert "s.toml: faults[0].region: unknown region 'eu-wst'" in msg
    assert "eu-west" in msg and "busiest" in msg


def test_unknown_fault_is_named() -> None:
    msg = _problem(_scenario(fault="explode"))
    assert "s.toml: faults[0].fault: unknown fault 'explode'" in msg and "hang" in msg


@pytest.mark.parametrize(
    ("fault", "params", "field"),
    [
        ("error-rate", "{ rate = 5 }", "faults[0].params.rate"),
        ("slow", "{}", "faults[0].params.ms"),
        ("hang", "{ colour = 1 }", "faults[0].params.colour"),
    ],
)
def test_bad_fault_parameters_are_named(fault: str, params: str, field: str) -> None:
    assert f"s.toml: {field}:" in _problem(_scenario(fault=fault, params=params))


def test_parameters_on_a_kill_are_refused() -> None:
    assert "faults[0].params: only action = 'fault'" in _problem(
        _scenario(action="kill", params="{ ms = 3 }")
    )


def test_unknown_location_is_named() -> None:
    msg = _problem(_scenario(locations="eu = 1\nmars = 1"))
    assert "s.toml: locations.mars: unknown location 'mars'" in msg and "eu" in msg


def test_all_problems_at_once() -> None:
    msg = _problem(_scenario(region="nowhere", fault="explode", locations="mars = 1"))
    assert msg.count("s.toml:") == 3


def test_unknown_profile_is_refused_with_the_field() -> None:
    with pytest.raises(ConfigError, match=r"s.toml: profiles.*unknown client profile 'browser'"):
        parse_scenario(_scenario().replace('"honours-ttl"', '"browser"'), "s.toml")


def test_drill_refuses_before_anything_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(_scenario(region="eu-wst"))
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match=r"bad.toml: faults\[0\].region"):
        run_drill(DrillOptions(scenario=bad, out=out), io.StringIO(), io.StringIO())
    assert not out.exists(), "nothing may be written (or started) for a refused scenario"


def test_drill_command_serves_nothing_for_a_refused_scenario(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The live page and /metrics start only after the scenario passed (item 6)."""
    from lab.cli import main
    from lab.procs import free_port

    bad = tmp_path / "bad.toml"
    bad.write_text(_scenario(region="eu-wst"))
    out = tmp_path / "out"
    argv = ["drill", str(bad), "--out", str(out), "--web", "127.0.0.1:0"]
    rc = main([*argv, "--metrics", f"127.0.0.1:{free_port()}"])
    err = capsys.readouterr().err
    assert rc == 1 and "faults[0].region: unknown region 'eu-wst'" in err, err
    assert "live page" not in err and "drill metrics" not in err, err
    assert not out.exists()


def test_a_timeline_of_recoveries_only_is_refused() -> None:
    """Nothing would fail: a table of 'windows' would describe no outage."""
    msg = _problem(_scenario(action="restart", fault="down").replace("params = {}", ""))
    assert "s.toml: faults: only recovery steps (restart): no outage to measure" in msg
