"""Health across restarts and feed loss (pure): the saved view, max_stale, the startup rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from authoritative import health_store
from authoritative.geo import Client, Located
from authoritative.health import HealthInputs, HealthRules, Observation, compute_view
from authoritative.policies import select
from lab.config import Service
from lab.errors import ConfigError

REGIONS = ("us-east", "eu-west")
SVC = Service(name="www.lab.example.", order={"eu": ("eu-west", "us-east")})
EU = Located("eu", "127.2.0.0/16", 0, Client.from_source("127.2.0.10"))


def inputs() -> HealthInputs:
    i = HealthInputs(("local",), REGIONS, started=1000.0)
    i = i.report("local", "us-east", Observation(True, 900.0, 999.0))
    return i.report("local", "eu-west", Observation(False, 990.0, 999.0))


def test_saved_view_round_trips_and_restores_as_stale(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    health_store.write(path, health_store.encode(inputs(), 1001.0))
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away
    fresh = HealthInputs(("local",), REGIONS, started=2000.0)
    restored = health_store.restore(fresh, health_store.read(path) or {}, str(path))
    assert restored.reports == inputs().reports
    assert restored.disconnected == {"local"} and restored.lost == {"local": 1001.0}
    view = compute_view(restored, HealthRules(), 2000.5)
    assert not view.is_up("eu-west") and view.is_up("us-east")
    assert {v.source for h in view.regions.values() for v in h.votes} == {"stale"}


def test_bad_saved_view_names_the_field(tmp_path: Path) -> None:
    doc = health_store.encode(inputs(), 1001.0)
    doc["checkers"]["local"]["regions"]["eu-west"]["up"] = "no"
    with pytest.raises(ConfigError, match=r"h.json: checkers.local.regions.eu-west.up"):
        health_store.decode(json.loads(json.dumps(doc)), "h.json", ("local",), REGIONS)
    with pytest.raises(ConfigError, match="version"):
        health_store.decode({"version": 9}, "h.json", ("local",), REGIONS)
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(ConfigError, match="not JSON"):
        health_store.read(tmp_path / "x.json")
    assert health_store.read(tmp_path / "missing.json") is None


def test_unknown_checkers_and_regions_are_dropped() -> None:
    doc = health_store.encode(inputs(), 1001.0)
    reports, confirmed = health_store.decode(doc, "h", ("local",), ("us-east",))
    assert list(reports) == [("local", "us-east")] and confirmed == {"local": 1001.0}
    assert health_store.decode(doc, "h", ("other",), REGIONS) == ({}, {})


@pytest.mark.parametrize("on_expired", ["keep", "startup"])
def test_kept_word_expires_after_max_stale(on_expired: str) -> None:
    rules = HealthRules(assume="up", max_stale=10.0, on_expired=on_expired)  # type: ignore[arg-type]
    lost = inputs().connection("local", False, at=1000.0)
    assert lost.age("local", 1004.0) == 4.0
    before = compute_view(lost, rules, 1009.9)
    assert not before.is_up("eu-west") and before["eu-west"].votes[0].source == "stale"
    after = compute_view(lost, rules, 1010.1)
    if on_expired == "keep":
        assert not after.is_up("eu-west") and after["eu-west"].votes[0].source == "expired"
        assert "EXPIRED" in after["eu-west"].why and after["eu-west"].known
    else:  # back to the startup assumption: what the operator chose, documented
        assert after.is_up("eu-west") and after["eu-west"].votes[0].source == "assumed"
        assert "expired" in after["eu-west"].why and not after["eu-west"].known
    back = lost.connection("local", True)
    assert back.age("local", 1100.0) == 0.0 and "local" not in back.lost


def test_assume_down_with_no_knowledge_is_servfail_not_fail_open() -> None:
    """Finding 2: assume = "down" + all_down = "fail-open" answered as if all were up."""
    rules = HealthRules(assume="down")
    blank = HealthInputs(("local",), REGIONS, started=0.0)
    sel = select(SVC, EU, compute_view(blank, rules, 1.0))
    assert sel.outcome == "servfail" and sel.chosen == () and "checked" in sel.why
    # once regions are known down, all_down applies as configured
    known = blank.report("local", "eu-west", Observation(False, 0.5, 0.9))
    known = known.report("local", "us-east", Observation(False, 0.5, 0.9))
    sel = select(SVC, EU, compute_view(known, rules, 1.0))
    assert sel.outcome == "answer" and sel.all_down and "fail-open" in sel.why
    # and a restored view answers the region known up, never the one known down
    sel = select(SVC, EU, compute_view(inputs().connection("local", False, 1000.0), rules, 1001))
    assert sel.chosen == ("us-east",)
