"""The observers' pure parts: when did answers change, which transition was the detection,
how the lab's probe queries are counted and taken out of the server's query count."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable

from dnslib import QTYPE, RR, A, DNSRecord

from lab.drill.live import LiveRun, Targets
from lab.drill.netclient import QNAME, Counts, QueryCount, query
from lab.drill.observe import AnswerProbe, CheckerWatch, Reading, Transition, quiet_reading
from lab.drill.record import RunRecord

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


def counter(*values: Counts | None) -> Callable[[], Counts | None]:
    """A probe count that shows ``values`` one look after the other (then the last one)."""
    seen = list(values)
    return lambda: seen.pop(0) if len(seen) > 1 else seen[0]


def test_a_reading_waits_for_no_probe_query_on_the_wire() -> None:
    server = iter([100, 104, 109])
    busy, quiet = Counts(7, 1, 0), Counts(8, 0, 0)
    # 1st try: a query pending at the first look; 2nd: one sent between the looks; 3rd: quiet
    probe = counter(busy, quiet, quiet, Counts(9, 1, 0), Counts(9, 0, 0), Counts(9, 0, 0))
    got = quiet_reading(lambda: next(server), [probe], pause=0)
    assert got == Reading(109, (Counts(9, 0, 0),), 0)


def test_a_reading_that_never_finds_the_probes_quiet_says_by_how_much() -> None:
    looks = itertools.cycle([Counts(3, 1, 0), Counts(5, 2, 0)])  # always busy
    probe = looks.__next__
    other = counter(None)  # unreadable: not counted as on the wire (the caller notes it)
    got = quiet_reading(lambda: 50, [probe, other], tries=3, pause=0)
    assert got is not None and got.server == 50 and got.loose == 1 + 2  # pending + sent since
    assert quiet_reading(lambda: None, [probe], pause=0) is None


async def _udp_server(answer: bool) -> tuple[asyncio.DatagramTransport, int]:
    """A loopback DNS server that answers every query with one A record, or stays silent."""

    class Proto(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            if answer:
                reply = DNSRecord.parse(data).reply()
                reply.add_answer(RR(QNAME, QTYPE.A, rdata=A("127.0.2.1"), ttl=5))
                self.transport.sendto(reply.pack(), addr)  # type: ignore[attr-defined]

    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        Proto, local_addr=("127.0.0.1", 0)
    )
    return transport, transport.get_extra_info("sockname")[1]


def test_a_counted_query_is_pending_from_before_it_is_sent_until_it_ends() -> None:
    async def go(answer: bool, timeout: float = 0.2) -> list[Counts]:
        seen: list[Counts] = []
        transport, port = await _udp_server(answer)
        try:
            count = QueryCount(seen.append)
            task = asyncio.create_task(
                query(("127.0.0.1", port), "127.0.0.1", timeout, count=count)
            )
            if timeout > 1:  # cancelled while waiting for the reply
                await asyncio.sleep(0.05)
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            assert count.counts() == seen[-1]
        finally:
            transport.close()
        return seen

    assert asyncio.run(go(True)) == [Counts(1, 1, 0), Counts(1, 0, 0)]
    assert asyncio.run(go(False)) == [Counts(1, 1, 0), Counts(1, 0, 1)]  # timeout
    assert asyncio.run(go(False, timeout=5)) == [Counts(1, 1, 0), Counts(1, 0, 1)]  # cancelled


def test_a_query_that_cannot_bind_is_not_counted() -> None:
    count = QueryCount()
    ans = asyncio.run(query(("127.0.0.1", 9), "192.0.2.1", 0.2, count=count))
    assert ans.error and count.counts() == Counts()


def _attached_run() -> tuple[LiveRun, RunRecord]:
    from lab.drill.scenario import load_scenario

    rec = RunRecord(ttl=2, scenario=load_scenario(None), clients=[], mode="live")
    targets = Targets(("127.0.0.1", 1), ("127.0.0.1", 2), {}, {}, {}, "http://x", {})
    return LiveRun(rec, targets, injector=None), rec  # type: ignore[arg-type]


def test_the_cost_takes_out_the_drills_and_dnslab_ups_probe_queries() -> None:
    run, rec = _attached_run()
    before = Reading(1000, (Counts(), Counts(40, 0, 2)))
    after = Reading(1900, (Counts(600, 0, 1), Counts(280, 0, 2)), loose=1)
    run._authoritative_queries(before, after)
    assert rec.authoritative_queries == 900 - 600 - 240 and rec.server_queries == 900
    assert rec.probe_queries == {"drill": 600, "up": 240, "no_reply": 1, "in_flight": 1}
    assert rec.notes[0] == (
        "authoritative queries: the server counted 900 during the run, minus 600 drill probe "
        "queries + 240 `dnslab up` probe queries (status line, live page) = 60 (clients + "
        "resolver upstream)"
    )
    assert rec.notes[1].startswith("authoritative queries ±1: no reading found the probes quiet")
    assert rec.notes[2].startswith("authoritative queries up to 1 too low: 1 probe queries got")


def test_an_attached_lab_without_a_probe_count_is_said() -> None:
    run, rec = _attached_run()
    run._authoritative_queries(Reading(10, (Counts(), None)), Reading(30, (Counts(5), None)))
    assert rec.authoritative_queries == 15 and rec.probe_queries is not None
    assert rec.probe_queries["up"] is None
    assert "no `dnslab up` of this lab.toml recorded a probe count" in rec.notes[0]
    run, rec = _attached_run()  # a lab of its own: only the drill's probe
    run._authoritative_queries(Reading(10, (Counts(),)), Reading(30, (Counts(5),)))
    assert rec.notes == [
        "authoritative queries: the server counted 20 during the run, minus 5 drill probe "
        "queries = 15 (clients + resolver upstream)"
    ]
