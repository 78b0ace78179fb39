from __future__ import annotations

from healthcheck import state as S
from healthcheck.events import EventLog, Snapshot, StateEvent, parse_id, status_of
from healthcheck.settings import CheckSettings


def transition(i: int) -> S.Transition:
    return S.Transition("eu", "up" if i % 2 else "down", "down" if i % 2 else "up", float(i), "r")


def log_with(n: int, capacity: int = 16) -> EventLog:
    log = EventLog("b00t", capacity)
    h = S.initial("eu", CheckSettings(), 0.0)
    for i in range(1, n + 1):
        log.append(transition(i), status_of(h, "local", 1000.0, float(i)), 1000.0)
    return log


def test_ids_increase_and_parse() -> None:
    log = log_with(3)
    assert log.last_id == "b00t-3"
    assert [e.seq for e in log.after("b00t-0") or []] == [1, 2, 3]
    assert parse_id("b00t-12") == ("b00t", 12)
    assert parse_id("nonsense") is None and parse_id("x-") is None


def test_resume_replays_or_asks_for_snapshot() -> None:
    log = log_with(40, capacity=16)  # keeps seq 25..40
    assert [e.seq for e in log.after("b00t-30") or []] == list(range(31, 41))
    assert log.after("b00t-24") == [e for e in log._events]  # exactly the oldest kept gap
    assert log.after("b00t-23") is None  # too old
    assert log.after("other-30") is None  # another checker run
    assert log.after("b00t-41") is None  # from the future
    assert log.after(None) is None
    assert log.after("b00t-40") == []


def test_payloads_use_wall_time_and_roundtrip() -> None:
    h = S.initial("eu", CheckSettings(interval=1.0), 5.0)
    h, _ = S.step(h, S.ProbeResult(False, 5.0, 5.2, "connect refused"), CheckSettings(interval=1.0))
    st = status_of(h, "na-probe", to_wall=1_700_000_000.0, at_mono=5.5)
    assert st.since == 1_700_000_005.2 and st.next_change_at == 1_700_000_007.0
    assert st.next_change_in_s == 1.5 and st.reason.startswith("first probe failed")
    assert st.streak == 1 and st.streak_since == 1_700_000_005.2
    log = EventLog("b", 8)
    ev = log.append(S.Transition("eu", "unknown", "down", 5.2, st.reason), st, 1_700_000_000.0)
    assert StateEvent.model_validate_json(ev.model_dump_json()) == ev
    snap = Snapshot(id="b-1", seq=1, boot="b", checker="na-probe", at=1.0, regions=[st])
    assert Snapshot.model_validate_json(snap.model_dump_json()).regions[0].checker == "na-probe"
