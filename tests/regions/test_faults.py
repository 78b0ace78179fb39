from __future__ import annotations

import pytest

from regions import faults as F


def spec(payload: dict[str, object]) -> F.FaultSpec:
    s = F.parse_fault(payload)
    assert not isinstance(s, F.FaultError), s
    return s


@pytest.mark.parametrize(
    ("payload", "field", "text"),
    [
        ([], "body", "JSON object"),
        ({}, "fault", "missing; known faults: down, hang"),
        ({"fault": "explode"}, "fault", "unknown fault 'explode'; known faults"),
        ({"fault": "slow"}, "ms", "Field required"),
        ({"fault": "slow", "ms": -5}, "ms", "greater than 0"),
        ({"fault": "error-rate", "rate": 1.5}, "rate", "less than or equal to 1"),
        ({"fault": "error-rate", "rate": 0.5, "status": 200}, "status", "greater than or equal"),
        ({"fault": "flap"}, "period", "Field required"),
        ({"fault": "down", "duration": 0}, "duration", "greater than 0"),
        ({"fault": "hang", "bogus": 1}, "bogus", "Extra inputs"),
        ({"fault": "clear", "name": "nope"}, "name", "unknown fault 'nope'"),
    ],
)
def test_bad_payloads_name_the_field(payload: object, field: str, text: str) -> None:
    err = F.parse_fault(payload)
    assert isinstance(err, F.FaultError)
    assert err.field == field
    assert text in err.message


def test_down_closes_listener_until_expiry() -> None:
    st = F.apply(F.FaultState(), spec({"fault": "down", "duration": 2}), now=10.0)
    assert not F.listening(st, 11.9)
    assert F.next_expiry(st, 11.0) == 12.0
    assert F.listening(st, 12.0)
    assert F.next_expiry(st, 12.0) is None


def test_down_without_duration_needs_control_port() -> None:
    down = spec({"fault": "down"})
    err = F.require_duration_or_control(down, has_control=False)
    assert err is not None and err.field == "duration"
    assert F.require_duration_or_control(down, has_control=True) is None
    assert F.require_duration_or_control(spec({"fault": "down", "duration": 1}), False) is None


def test_slow_adds_latency_and_hang_hangs() -> None:
    st = F.apply(F.FaultState(), spec({"fault": "slow", "ms": 250}), 0.0)
    d = F.decide(st, 1.0, "traffic", 0.0)
    assert d == F.Decision(delay=0.25)
    st = F.apply(st, spec({"fault": "hang"}), 1.0)
    assert F.decide(st, 1.0, "health", 0.9).hang


def test_error_rate_uses_the_roll() -> None:
    st = F.apply(F.FaultState(), spec({"fault": "error-rate", "rate": 0.3}), 0.0)
    assert F.decide(st, 0.0, "traffic", 0.29).status == 503
    assert F.decide(st, 0.0, "traffic", 0.30).status is None
    always = F.apply(st, spec({"fault": "error-rate", "rate": 1.0, "status": 500}), 0.0)
    assert F.decide(always, 0.0, "health", 0.999).status == 500


def test_flap_alternates_starting_down() -> None:
    st = F.apply(F.FaultState(), spec({"fault": "flap", "period": 2}), 100.0)
    phases = [F.decide(st, 100.0 + t, "health", 0.5).status for t in (0, 1.9, 2.0, 3.9, 4.0)]
    assert phases == [503, 503, None, None, 503]


def test_healthz_only_spares_traffic() -> None:
    st = F.apply(F.FaultState(), spec({"fault": "healthz-only"}), 0.0)
    assert F.decide(st, 0.0, "health", 0.5).status == 503
    assert F.decide(st, 0.0, "traffic", 0.5).status is None


def test_clear_one_or_all_and_replace() -> None:
    st = F.apply(F.FaultState(), spec({"fault": "slow", "ms": 10}), 0.0)
    st = F.apply(st, spec({"fault": "slow", "ms": 20}), 0.0)
    assert F.decide(st, 0.0, "traffic", 0.0).delay == pytest.approx(0.02)
    st = F.apply(st, spec({"fault": "hang"}), 0.0)
    st = F.apply(st, spec({"fault": "clear", "name": "hang"}), 0.0)
    assert sorted(st.active(0.0)) == ["slow"]
    st = F.apply(st, spec({"fault": "clear"}), 0.0)
    assert st.active(0.0) == {}


def test_effect_of_each_fault_on_a_probe_and_a_request() -> None:
    def with_(payload: dict[str, object]) -> F.FaultState:
        spec = F.parse_fault(payload)
        assert not isinstance(spec, F.FaultError)
        return F.apply(F.FaultState(), spec, 0.0)

    effect, Effect = F.effect, F.Effect
    none = F.FaultState()
    assert effect(none, False, 1.0, "health", 0.25, 0.5) == Effect(True, 0.0, "200")
    assert effect(none, True, 1.0, "traffic", 0.25, 0.5).detail == "connect refused"
    assert effect(with_({"fault": "down"}), False, 1.0, "health", 0.25, 0.5).ok is False
    hang = effect(with_({"fault": "hang"}), False, 1.0, "health", 0.25, 0.5)
    assert not hang.ok and hang.latency == 0.25
    slow = with_({"fault": "slow", "ms": 100})
    assert effect(slow, False, 1.0, "traffic", 0.25, 0.5) == Effect(True, 0.1, "200")
    assert not effect(slow, False, 1.0, "traffic", 0.05, 0.5).ok  # slower than the timeout
    hz = with_({"fault": "healthz-only"})
    assert not effect(hz, False, 1.0, "health", 0.25, 0.5).ok
    assert effect(hz, False, 1.0, "traffic", 0.25, 0.5).ok
    er = with_({"fault": "error-rate", "rate": 0.3})
    assert not effect(er, False, 1.0, "traffic", 0.25, 0.29).ok
    assert effect(er, False, 1.0, "traffic", 0.25, 0.31).ok
