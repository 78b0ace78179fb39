"""The packaged data (lab/pkgdata.py) is the repository's: same files, and a usable lab.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.config import load_config
from lab.drill.runner import config_path
from lab.drill.scenario import DEFAULT_SCENARIO, load_scenario
from lab.pkgdata import data_dir, default_lab_toml, scenario_dir
from tests.conftest import REPO


def test_packaged_files_are_the_repository_files() -> None:
    assert default_lab_toml().read_bytes() == (REPO / "lab.toml").read_bytes()
    for sub in ("zones", "scenarios"):
        names = sorted(p.name for p in (REPO / sub).iterdir())
        assert sorted(p.name for p in (data_dir() / sub).iterdir()) == names
        for name in names:
            assert (data_dir() / sub / name).read_bytes() == (REPO / sub / name).read_bytes()


def test_the_packaged_lab_toml_finds_its_zones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./lab.toml here: the packaged one is the default
    path = config_path(None)
    assert path == default_lab_toml()
    cfg = load_config(path)
    zone = path.parent / cfg.authoritative.zones["lab.example."]
    assert zone.read_bytes() == (REPO / "zones" / "lab.example.zone").read_bytes()


def test_the_default_scenario_is_packaged() -> None:
    assert DEFAULT_SCENARIO.parent == scenario_dir()
    assert load_scenario(None).faults
