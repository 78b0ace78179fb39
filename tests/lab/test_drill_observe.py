"""The observers' pure parts: when did answers change, which transition was the detection."""

from __future__ import annotations

from lab.drill.observe import AnswerProbe, CheckerWatch, Transition

DEAD = frozenset({"127.0.2.1"})


def probe(answers: dict[str, list[tuple[float, tuple[str, ...]]]]) -> AnswerProbe:
    p = AnswerProbe(("127.0.0.1", 1), {}, now=lambda: 0.0)
    p.answers = answers
    return p


def test_changed_when_every_affected_location_moved() -> None:
    p = probe(
        {
            "eu": [(9.9, ("127.0.2.1",)), (10.5, ("127.0.2.1",)), (11.2, ("127.0.1.1",))],
            "na": [(9.9, ("127.0.1.1",)), (11.0, ("127.0.1.1",))],  # never on the dead region
        }
    )
    assert p.changed_at(DEAD, 10.0) == 11.2


def test_not_changed_while_a_location_still_gets_the_dead_region() -> None:
    p = probe({"eu": [(9.9, ("127.0.2.1",)), (12.0, ("127.0.2.1", "127.0.1.1"))]})
    assert p.changed_at(DEAD, 10.0) is None
    assert probe({}).changed_at(DEAD, 10.0) is None


def test_first_down_transition_after_the_fault() -> None:
    w = CheckerWatch("http://x/v1/events")
    w.transitions = [
        Transition(100.0, 1.0, "eu-west", "down", "up", "old flap"),
        Transition(101.0, 2.0, "eu-west", "up", "down", "back"),
        Transition(105.3, 3.0, "us-east", "down", "up", "other"),
        Transition(105.5, 3.1, "eu-west", "down", "up", "3 consecutive failures"),
    ]
    got = w.first("eu-west", "down", after_wall=104.0)
    assert got is not None and got.wall == 105.5
    assert w.first("ap-south", "down", 0.0) is None


def test_a_failure_streak_that_began_before_the_fault_is_reported() -> None:
    from lab.drill.live import LiveRun, Targets
    from lab.drill.record import RunRecord
    from lab.drill.scenario import load_scenario

    rec = RunRecord(ttl=2, scenario=load_scenario(None), clients=[], mode="live")
    rec.fault_at, rec.dead_region = 4.0, "eu-west"
    targets = Targets(("127.0.0.1", 1), ("127.0.0.1", 2), {}, {}, {}, "http://x", {})
    run = LiveRun(rec, targets, injector=None, t0=0.0, fault_wall=1000.0)  # type: ignore[arg-type]
    watch = CheckerWatch("http://x/v1/events")
    watch.transitions = [
        Transition(1000.5, 4.5, "eu-west", "down", "up", "3 consecutive failures", 999.7)
    ]
    run._conclude(watch, probe({}))
    assert rec.detected_at == 4.5
    assert rec.prefault_streak_s is not None and abs(rec.prefault_streak_s - 0.3) < 1e-9
    assert "began 0.30s before the fault" in rec.notes[0]
