from __future__ import annotations

from pathlib import Path

import pytest

from lab.drill.scenario import DEFAULT_SCENARIO, SCENARIO_DIR, load_scenario, parse_scenario
from lab.errors import ConfigError

MINIMAL = """
[[faults]]
at = 2
action = "kill"
"""


def test_default_scenario_loads() -> None:
    sc = load_scenario(None)
    assert sc.faults[0].action == "kill" and sc.faults[0].region == "busiest"
    assert sc.ttls and sc.clients > 0


@pytest.mark.parametrize("path", sorted(SCENARIO_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_scenario_is_valid(path: Path) -> None:
    load_scenario(path)


def test_minimal_scenario_gets_defaults() -> None:
    sc = parse_scenario(MINIMAL)
    assert sc.checks.fall == 3 and sc.profiles == {"honours-ttl": 1.0}
    assert sc.first_fault_at == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("clients = 3", "faults: Field required"),
        ('[profiles]\n"bogus" = 1\n' + MINIMAL, "profiles: .*unknown client profile 'bogus'"),
        ("[checks]\nfall = 0\n" + MINIMAL, "checks.fall"),
        ("ttls = [-1]\n" + MINIMAL, "ttls: .*>= 0"),
        ("typo = 1\n" + MINIMAL, "typo: Extra inputs"),
        ('[[faults]]\nat = 1\naction = "explode"\n', "faults.0.action"),
        ("x = [", "not valid TOML"),
        (
            '[[faults]]\nat = 3\naction = "kill"\n[[faults]]\nat = 1\naction = "restart"\n',
            "time order",
        ),
    ],
)
def test_errors_name_file_and_field(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        parse_scenario(text, "my.toml")
    assert str(err.value).startswith("my.toml: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.toml")
    assert DEFAULT_SCENARIO.exists()


def test_bad_resolver_knob_is_named() -> None:
    with pytest.raises(ConfigError, match=r"resolver\.cache-min-tll: Extra inputs"):
        parse_scenario('[resolver]\n"cache-min-tll" = 3\n' + MINIMAL, "my.toml")


def test_default_drill_is_planned_well_under_three_minutes() -> None:
    """README command #1 must print its table within 3 minutes, lab start-ups included."""
    from lab.config import load_config
    from lab.drill.population import build_population
    from lab.drill.runner import run_duration
    from lab.pkgdata import default_lab_toml
    from lab.sim.run import networks

    sc = load_scenario(None)
    nets = networks(load_config(default_lab_toml()))
    clients = build_population(
        sc.clients, sc.locations, sc.profiles, nets, sc.request_interval, sc.seed
    )
    profiles = list({c.profile for c in clients})
    planned = sum(run_duration(sc, ttl, profiles) for ttl in sc.ttls)
    startup = 15.0 * len(sc.ttls)  # lab start, all-up wait, resolver priming (<= one TTL)
    assert planned + startup + max(sc.ttls) < 120.0


def test_a_leading_recovery_step_is_not_the_measured_fault() -> None:
    """A timeline may open with ``clear``; the outage measured (and modelled, and the one
    the run's duration follows) is the first step that makes one, as the record's is."""
    from lab.drill import model
    from lab.drill.profiles import parse_profile
    from lab.drill.scenario import run_duration

    text = """
ttls = [30]
[[faults]]
at = 1
action = "clear"
[[faults]]
at = 4
action = "fault"
fault = "slow"
params = { ms = 3000 }
"""
    sc = parse_scenario(text)
    assert (sc.first_outage.action, sc.first_outage.fault) == ("fault", "slow")
    assert sc.first_fault_at == 4
    check = model.CheckParams(sc.checks.interval, sc.checks.fall, sc.checks.timeout)
    profiles = [parse_profile("honours-ttl")]
    expected = model.run_duration(
        4, profiles, 30, check, sc.request_interval, sc.tail, sc.max_duration
    )
    assert run_duration(sc, 30, profiles) == expected
    # the slow fault's probe latency (a timeout), not the clear step's "no outage"
    latency = model.probe_latency(sc.first_outage.action, sc.first_outage.fault, check)
    assert latency == model.probe_latency("fault", "slow", check)
