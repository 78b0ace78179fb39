from __future__ import annotations

import pytest

from lab.drill import model
from lab.drill.profiles import parse_profile

CHECK = model.CheckParams(interval=0.5, fall=3, timeout=0.25)


def test_window_formulas() -> None:
    p = model.window(CHECK, tau=0.1, ttl_effective=5.0)
    assert p.max_s == pytest.approx(3 * 0.5 + 0.1 + 5.0)
    assert p.mean_s == pytest.approx(2.5 * 0.5 + 0.1 + 2.5)


def test_pinned_is_unbounded() -> None:
    p = model.predict(parse_profile("pinned"), 5, CHECK, 0.2, 0.0)
    assert p == model.Prediction(None, None)


def test_ttl_eff_per_profile() -> None:
    assert model.ttl_eff(parse_profile("min-ttl:60"), 5, 0.2) == 60
    assert model.ttl_eff(parse_profile("fixed:30"), 300, 0.2) == 30
    assert model.ttl_eff(parse_profile("serve-stale"), 5, 0.2) == pytest.approx(5.2)
    assert model.ttl_eff(parse_profile("shared-resolver"), 5, 0.2) == 5
    assert model.ttl_eff(parse_profile("direct"), 5, 0.2) == 0


def test_detection_and_probe_latency() -> None:
    assert model.probe_latency("kill", "down", CHECK) == 0.0
    assert model.probe_latency("fault", "hang", CHECK) == 0.25
    d = model.detection(CHECK, 0.25)
    assert (d.mean_s, d.max_s) == (pytest.approx(1.5), pytest.approx(1.75))


def test_combine_leaves_out_unbounded() -> None:
    a = model.Prediction(2.0, 4.0)
    b = model.Prediction(4.0, 6.0)
    pred, unbounded = model.combine([(a, 1), (b, 3), (model.Prediction(None, None), 2)])
    assert pred.mean_s == pytest.approx(3.5)
    assert pred.max_s == 6.0
    assert unbounded == 2
    assert model.combine([(model.Prediction(None, None), 1)]) == (model.Prediction(None, None), 1)


def test_run_duration_covers_longest_bounded_window() -> None:
    profiles = [parse_profile("honours-ttl"), parse_profile("pinned"), parse_profile("fixed:20")]
    d = model.run_duration(4.0, profiles, 5, CHECK, 0.2, tail=2.0, cap=100.0)
    assert d == pytest.approx(4.0 + 1.5 + 0.25 + 0.05 + 20 + 2.0)
    assert model.run_duration(4.0, profiles, 5, CHECK, 0.2, tail=2.0, cap=10.0) == 10.0


def test_given_detection_uses_measured_delays() -> None:
    p = model.given_detection(1.1, 0.02, 5.0)
    assert p.mean_s == pytest.approx(1.12 + 2.5) and p.max_s == pytest.approx(6.12)
    assert model.given_detection(1.0, 0.0, float("inf")) == model.Prediction(None, None)
