"""`dnslab up` plans its processes from lab.toml (pure: no process is started here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lab import config
from lab.drill.status import scrape_counters
from lab.up import plan_lab
from tests.conftest import REPO


def test_plan_runs_every_component_with_the_cli_contract() -> None:
    cfg = config.load_config(REPO / "lab.toml")
    comps = plan_lab(cfg, REPO / "lab.toml", control_port=lambda host: 9999)
    kinds = [c.kind for c in comps]
    assert kinds == ["region"] * 3 + ["healthcheck", "authoritative", "resolver"]
    eu = next(c for c in comps if c.region == "eu-west")
    wrapper = (sys.executable, "-m", "lab.drill.pdeathsig", str(os.getpid()))
    assert eu.argv[:7] == (*wrapper, sys.executable, "-m", "lab.cli")
    assert eu.argv[7:] == (
        "region",
        "--name",
        "eu-west",
        "--listen",
        "127.0.2.1:8080",
        "--control",
        "127.0.2.1:9999",
    )
    auth = next(c for c in comps if c.kind == "authoritative")
    assert auth.argv[7:] == (
        "authoritative",
        "--config",
        str(REPO / "lab.toml"),
        "--listen",
        "127.0.0.1:5300",
        "--admin",
        "127.0.0.1:8053",
    )
    res = next(c for c in comps if c.kind == "resolver")
    assert "--upstream" in res.argv and res.dns == "127.0.0.1:5301"
    chk = next(c for c in comps if c.kind == "healthcheck")
    assert chk.url == "http://127.0.0.1:8054/v1/status"


def test_a_control_port_is_never_one_lab_toml_names() -> None:
    # the picker sees only ports free now; lab.toml's are free too until their servers bind
    cfg = config.load_config(REPO / "lab.toml")
    picks = iter([8080, 9999, 8080, 9998, 9997])  # every region listens on :8080 (its own host)
    comps = plan_lab(cfg, REPO / "lab.toml", control_port=lambda host: next(picks))
    controls = [c.control for c in comps if c.region]
    assert controls == ["127.0.1.1:9999", "127.0.2.1:9998", "127.0.3.1:9997"]


def test_scrape_counters_of_an_unreachable_page_is_empty(tmp_path: Path) -> None:
    assert scrape_counters(f"file://{tmp_path}/nothing", ("x_total",)) == {}


def test_readiness_allows_for_loading_big_zones(tmp_path: Path) -> None:
    """The authoritative server's readiness wait grows with its zone files (loading is
    linear): a 6 MB zone gets 30 s on top of the base timeout; other components get none."""
    from lab.up import ZONE_BYTES_PER_S

    big = tmp_path / "big.zone"
    big.write_bytes(b"; padding\n" * 600_000)
    cfg = config.load_config(REPO / "lab.toml")
    cfg_big = cfg.model_copy(
        update={
            "authoritative": cfg.authoritative.model_copy(
                update={"zones": {**cfg.authoritative.zones, "big.example.": str(big)}}
            )
        }
    )
    small = next(c for c in plan_lab(cfg, REPO / "lab.toml") if c.kind == "authoritative")
    auth = next(c for c in plan_lab(cfg_big, REPO / "lab.toml") if c.kind == "authoritative")
    assert auth.load_allowance - small.load_allowance == 6_000_000 / ZONE_BYTES_PER_S == 30
    assert all(
        c.load_allowance == 0 for c in plan_lab(cfg, REPO / "lab.toml") if c.kind != "authoritative"
    )
