"""``dnslab sweep``: flags, grid errors, outputs validated by the JSON Schema, loud cuts."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest

from lab.cli import build_parser, main
from lab.errors import ConfigError
from lab.sim.sweep_out import schema
from lab.sweep_cli import SweepOptions, run_sweep

SMALL = """
name = "small"
clients = 60
request_interval = 0.5
seed = 4
[locations]
eu = 1
[profiles]
"honours-ttl" = 3
"shared-resolver" = 1
pinned = 1
[checks]
interval = 1.0
fall = 2
rise = 2
timeout = 0.5
[[faults]]
at = 5.0
action = "kill"
[sweep]
ttl = [5, 20]
replicates = 2
stale_at = [3, 10]
"""


def _sweep(tmp_path: Path, flags: dict[str, object] | None = None, rows: bool = True) -> Path:
    sc = tmp_path / "small.toml"
    sc.write_text(SMALL)
    out = tmp_path / "out"
    opts = SweepOptions(sc, None, out, flags or {}, jobs=1, client_rows=rows)
    assert run_sweep(opts, io.StringIO(), io.StringIO()) == 0
    return out


@pytest.mark.slow
def test_results_json_follows_its_schema_and_the_scenario_axes(tmp_path: Path) -> None:
    out = _sweep(tmp_path)
    doc = json.loads((out / "results.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema())
    jsonschema.validate(doc, schema())
    assert [c["params"]["ttl"] for c in doc["cells"]] == [5, 20]
    assert doc["varying"] == ["ttl"] and doc["replicates"] == 2
    for c in doc["cells"]:
        m = c["metrics"]
        assert len(m["window_mean_s"]["values"]) == 2 and m["window_mean_s"]["ci95"] is not None
        assert {"stale_share_at_3s", "stale_share_at_10s"} <= set(m)
        assert m["detection_s"]["mean"] == pytest.approx(1.5, abs=0.5 + 1e-6)  # in [1, 2]
        assert 0 < m["resolver_hit_ratio"]["mean"] < 1
        assert c["cut"] == 0  # the derived horizon lets every bounded client converge
    low, high = doc["cells"]
    # the trade-off: a longer TTL is staler and cheaper
    assert high["metrics"]["window_mean_s"]["mean"] > low["metrics"]["window_mean_s"]["mean"]
    assert (
        high["metrics"]["queries_per_client_hour"]["mean"]
        < low["metrics"]["queries_per_client_hour"]["mean"]
    )
    for name in ("report.md", "cells.csv", "clients.csv", "window_cdf.png", "tradeoff.png"):
        assert (out / name).stat().st_size > 0
    with (out / "clients.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    n_affected = sum(c["metrics"]["clients_affected"]["values"][0] for c in doc["cells"])
    assert len(rows) == n_affected


@pytest.mark.slow
def test_a_document_that_breaks_the_schema_is_refused(tmp_path: Path) -> None:
    doc = json.loads((_sweep(tmp_path) / "results.json").read_text())
    doc["cells"][0]["params"]["ttl"] = -1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema())


@pytest.mark.slow
def test_no_client_rows_skips_the_big_csv(tmp_path: Path) -> None:
    out = _sweep(tmp_path, rows=False)
    assert (out / "cells.csv").exists() and not (out / "clients.csv").exists()


@pytest.mark.slow
def test_a_short_horizon_is_a_loud_cut(tmp_path: Path) -> None:
    sc = tmp_path / "small.toml"
    sc.write_text(SMALL)
    err = io.StringIO()
    opts = SweepOptions(sc, None, tmp_path / "o", {"horizon": 12.0, "ttl": [20]}, jobs=1)
    assert run_sweep(opts, io.StringIO(), err) == 0
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    assert doc["cut_cells"] == 1 and doc["cells"][0]["cut"] > 0
    assert "WARNING: CUT" in err.getvalue()
    assert "WARNING" in (tmp_path / "o" / "report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--ttl", "-5"], "--ttl"),
        (["--ttl", "5,x"], "--ttl"),
        (["--mix", "browser=1"], "--mix"),
        (["--mix", ""], "--mix"),
        (["--mix", "honours-ttl=0"], "--mix"),
        (["--interval", "0"], "--interval"),
        (["--fall", "0"], "--fall"),
        (["--ttl-policy", "sometimes"], "--ttl-policy"),
        (["--resolvers", "mine"], "--resolvers"),
        (["--clients", "0"], "--clients"),
        (["--timeout", "5", "--interval", "1"], "--timeout"),
        (["--jobs", "0"], "--jobs"),
    ],
)
def test_bad_grids_name_the_flag(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", *argv, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"dnslab sweep: error: {flag}" in err, err
    assert not (tmp_path / "o").exists()


def test_help_explains_every_axis() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if hasattr(a, "choices") and a.choices)
    text = sub.choices["sweep"].format_help()  # type: ignore[index]
    for flag in (
        "--ttl", "--interval", "--fall", "--rise", "--timeout", "--ttl-policy", "--mix",
        "--rate", "--resolvers", "--clients", "--replicates", "--horizon", "--stale-at",
        "--out", "--no-client-rows",
    ):  # fmt: skip
        assert text.count(flag) >= 2, f"{flag} is listed but not explained"
    assert "honours-ttl" in text and "CUT" in text


def test_bad_sweep_table_names_the_file_and_field(tmp_path: Path) -> None:
    sc = tmp_path / "bad.toml"
    sc.write_text(SMALL.replace("ttl = [5, 20]", "ttl = [-1]"))
    with pytest.raises(ConfigError, match=r"bad.toml: sweep.ttl"):
        run_sweep(SweepOptions(sc, None, tmp_path / "o", {}, jobs=1), io.StringIO(), io.StringIO())


def test_a_step_that_cannot_happen_fails_the_sweep(tmp_path: Path) -> None:
    """A second kill of a dead region (as the live drill finds it: nothing to kill) fails the
    sweep: exit 1, a note per replicate, the cell marked, report.md says so first."""
    sc = tmp_path / "twice.toml"
    sc.write_text(SMALL.replace("[sweep]", '[[faults]]\nat = 6.0\naction = "kill"\n[sweep]'))
    err = io.StringIO()
    opts = SweepOptions(sc, None, tmp_path / "o", {"ttl": [5]}, jobs=1)
    assert run_sweep(opts, io.StringIO(), err) == 1
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    jsonschema.validate(doc, schema())
    assert doc["failed_cells"] == 1 and doc["cells"][0]["failed"] is True
    assert sum("INJECTION FAILED in cell 0" in n for n in doc["notes"]) == 2  # 2 replicates
    assert "not running" in doc["notes"][0] and "sweep FAILED" in err.getvalue()
    assert "SWEEP FAILED" in (tmp_path / "o" / "report.md").read_text().split("|")[0]


def test_container_faults_are_refused_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The simulation has no model of a paused container: refused as a drill refuses it
    (it crashed in a worker with a bare AssertionError)."""
    sc = tmp_path / "pause.toml"
    sc.write_text(SMALL.replace('action = "kill"', 'action = "pause"\nregion = "eu-west"'))
    assert main(["sweep", str(sc), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "dnslab sweep: error: faults ['pause'] need the container lab" in err, err
    assert not (tmp_path / "o").exists()
