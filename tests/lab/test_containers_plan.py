"""The container plan (lab/containers.py) and the container faults' validation, pure."""

from __future__ import annotations

import ipaddress
import subprocess
import tomllib
from pathlib import Path

import pytest

from lab.config import parse_config
from lab.containers import CLIENTS, container_config, netem_args, plan
from lab.drill.labgen import to_toml
from lab.errors import ConfigError
from tests.conftest import DNSLAB, REPO

RAW = tomllib.loads((REPO / "lab.toml").read_text())


def test_one_checker_per_location_and_regions_in_file_order() -> None:
    p = plan(RAW)
    assert [r.name for r in p.regions] == list(RAW["regions"])
    assert [c.location for c in p.checkers] == list(RAW["locations"])
    assert len({c.core for c in p.checkers}) == len(p.checkers) >= 2


def test_the_container_config_validates_and_keeps_everything_but_addresses() -> None:
    data = container_config(RAW, REPO)
    cfg = parse_config(to_toml(data), source="<container>", base_dir=str(REPO))
    assert (
        cfg.services == parse_config((REPO / "lab.toml").read_text(), base_dir=str(REPO)).services
    )
    assert all(Path(z).is_absolute() for z in cfg.authoritative.zones.values())
    assert cfg.resolver.upstream == cfg.authoritative.listen
    assert "172.30.0.0/16 allow" in cfg.resolver.access_control
    for loc in cfg.locations.values():
        assert len(loc.nets) == 1 and ipaddress.IPv4Network(loc.nets[0]).subnet_of(CLIENTS.subnet)


def test_a_drill_ttl_and_checks_are_patched_in() -> None:
    from lab.drill.scenario import CheckSpec

    data = container_config(RAW, REPO, ttl=7, checks=CheckSpec(interval=1.0, fall=2))
    assert data["checks"]["interval"] == 1.0 and data["checks"]["fall"] == 2
    assert data["services"]["www"]["ttl"] == 7


@pytest.mark.parametrize(
    ("params", "args"),
    [
        ({"delay_ms": 100}, ["delay", "100ms"]),
        ({"delay_ms": 100, "jitter_ms": 20}, ["delay", "100ms", "20ms"]),
        ({"loss_pct": 2.5, "link": "region"}, ["loss", "2.5%"]),
    ],
)
def test_netem_arguments(params: dict[str, object], args: list[str]) -> None:
    assert netem_args(params) == args


@pytest.mark.parametrize(
    ("params", "message"),
    [({}, "give delay_ms"), ({"delay": 5}, "unknown params"), ({"loss_pct": 120}, "loss_pct")],
)
def test_bad_netem_arguments_are_named(params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        netem_args(params)


def _drill(tmp_path: Path, scenario_text: str) -> subprocess.CompletedProcess[str]:
    scenario = tmp_path / "s.toml"
    scenario.write_text(scenario_text)
    return subprocess.run(
        [DNSLAB, "drill", str(scenario), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_the_loopback_drill_refuses_container_faults(tmp_path: Path) -> None:
    done = _drill(
        tmp_path, '[[faults]]\nat = 1.0\naction = "partition-clients"\nregion = "eu-west"\n'
    )
    assert done.returncode == 1
    assert "['partition-clients'] need the container lab" in done.stderr
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_bad_netem_step_is_a_scenario_error(tmp_path: Path) -> None:
    done = _drill(tmp_path, '[[faults]]\nat = 1.0\naction = "netem"\nparams = {delay = 5}\n')
    assert done.returncode == 1
    assert "faults[0].params: netem: unknown params ['delay']" in done.stderr
