"""Differential: `dnslab resolver` and a real Unbound, configured alike, both forwarding to the
same Knot DNS, over a sequence that crosses TTL expiry while the zone changes under them.

Unbound counts time in whole seconds (``time(0)``): an entry is served with TTL 0 through the
second it expires in. So does ours by default (``ttl-clock = "seconds"``, on a clock whose
seconds tick with the wall clock's; no option is set here), so the two agree at every poll: the
same answers and TTLs, before, across and after each expiry and refresh. A poll asks both
resolvers within one wall-clock second (polls start in its first 0.8 s); one that still
straddles a second boundary is not compared (the two resolvers legitimately saw different
seconds) and is counted, and the test fails if too many are lost that way.
"""

from __future__ import annotations

import contextlib
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import dns.exception
import pytest

from lab.procs import ProcessGroup, wait_for
from tests.conftest import DNSLAB, require_tool
from tests.resolver.peers import (
    Knot,
    Seen,
    ask,
    start_dnslab_resolver,
    start_lab_knot,
    start_unbound,
    zone_text,
)

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]

Question = tuple[str, str]


@dataclass
class Pair:
    """Our resolver and Unbound, same options, same upstream."""

    ours: str
    theirs: str
    sampling: float = 0.0  # the longest time between two polls of watch_switch

    def both(self, q: Question) -> tuple[Seen, Seen]:
        return ask(self.ours, *q), ask(self.theirs, *q)


def start_pair(procs: ProcessGroup, tmp: Path, knot: Knot, options: dict[str, object]) -> Pair:
    unbound = start_unbound(procs, require_tool("unbound"), tmp, knot.addr, options)
    # Unbound here runs without its subnetcache module, so it sends no ECS: ours neither
    # (our default is on, for the lab's GeoDNS; the ECS differential is the _ecs module).
    # The TTL clock is our default (Unbound's whole seconds): not set here on purpose.
    ours = {"send-client-subnet": False, **options}
    _, listen, _ = start_dnslab_resolver(procs, DNSLAB, knot.addr, ours)
    return Pair(listen, unbound.addr)


def lab_knot(procs: ProcessGroup, tmp: Path, text: str) -> Knot:
    return start_lab_knot(procs, require_tool("knotd"), require_tool("knotc"), tmp / "knot", text)


def assert_agree(q: Question, ours: Seen, theirs: Seen) -> None:
    assert ours.same_data(theirs), f"{q}: ours {ours} vs unbound {theirs}"
    assert len(ours.ttls) == len(theirs.ttls), f"{q}: {ours} vs {theirs}"
    for a, b in zip(ours.ttls, theirs.ttls, strict=True):
        assert abs(a - b) <= 1, f"{q}: TTL ours {ours.ttls} vs unbound {theirs.ttls}"


GATE = 0.8  # a poll starts only in the first 0.8 s of a wall-clock second


def in_one_second(pair: Pair, q: Question) -> tuple[Seen, Seen, float, bool]:
    """Ask ours, then Unbound: both answers, when, and whether both fell in one whole second."""
    started = time.time()
    ours = ask(pair.ours, *q)
    at = time.monotonic()
    theirs = ask(pair.theirs, *q)
    return ours, theirs, at, int(started) == int(time.time())


def fill(pair: Pair, questions: dict[Question, int]) -> tuple[dict[Question, Seen], float]:
    """First answers (both resolvers store them within the same whole second), and when."""
    wait_for(lambda: time.time() % 1 < 0.5, 2, "the first half of a second")
    filled = time.monotonic()
    old = {}
    for q, ttl in questions.items():
        ours, theirs, _, one = in_one_second(pair, q)
        assert one, f"{q}: filling took more than half a second"
        assert_agree(q, ours, theirs)
        assert max(ours.ttls) == ttl, f"{q}: first answer TTLs {ours.ttls}, expected {ttl}"
        old[q] = ours
    return old, filled


def watch_switch(
    pair: Pair, old: dict[Question, Seen], deadline: float, linger: float | None = None
) -> dict[Question, tuple[float, float]]:
    """Poll until both resolvers answer the new data for every question *and* have refreshed
    it once more after its TTL ran out (a second expiry, data unchanged): seen as a TTL that
    grows again, or, when answers carry constant TTLs (``serve-original-ttl``), by polling on
    for ``linger`` seconds after the last switch.

    At every poll asked within one second: same answers, TTLs within 1 s, ours never growing
    between refreshes. Returns, per question, (our switch time, Unbound's) on time.monotonic().
    """
    switched: dict[tuple[str, Question], float] = {}
    last: dict[tuple[str, Question], Seen] = {}
    refreshed: set[tuple[str, Question]] = set()
    counts = {"compared": 0, "straddled": 0}
    last_poll = [time.monotonic()]

    def note(side: str, q: Question, seen: Seen, at: float) -> None:
        key = (side, q)
        if key not in switched and not seen.same_data(old[q]):
            switched[key] = at
        prev = last.get(key)
        grew = prev is not None and prev.same_data(seen) and seen.ttls > prev.ttls
        if key in switched and grew:
            refreshed.add(key)  # the new data's entry expired and was fetched again
        last[key] = seen

    def poll() -> bool:
        if time.time() % 1 >= GATE:
            return False
        for q in old:
            ours, theirs, at, one = in_one_second(pair, q)
            prev = last.get(("ours", q))
            if prev is not None and prev.same_data(ours) and ("ours", q) not in switched:
                assert ours.ttls <= prev.ttls, f"{q}: TTL grew {prev.ttls} -> {ours.ttls}"
            if one:
                assert_agree(q, ours, theirs)
                counts["compared"] += 1
            else:
                counts["straddled"] += 1
            note("ours", q, ours, at)
            note("unbound", q, theirs, time.monotonic())
        now = time.monotonic()
        pair.sampling = max(pair.sampling, now - last_poll[0])
        last_poll[0] = now
        if linger is None:
            return len(refreshed) == 2 * len(old)
        return len(switched) == 2 * len(old) and now - max(switched.values()) >= linger

    wait_for(poll, deadline, "both resolvers switch to the new zone and refresh it", interval=0.1)
    compared, straddled = counts["compared"], counts["straddled"]
    assert straddled <= compared // 10, f"{straddled} polls straddled a second, {compared} ok"
    return {q: (switched[("ours", q)], switched[("unbound", q)]) for q in old}


def run_sequence(
    pair: Pair,
    knot: Knot,
    questions: dict[Question, int],
    new_zone: str,
    serial: int,
    constant_ttls: bool = False,
) -> None:
    """Fill both caches, change the zone, check each question switches after its TTL."""
    old, filled = fill(pair, questions)
    knot.load(new_zone, serial)
    longest = max(questions.values())
    linger = longest + 1.5 if constant_ttls else None
    times = watch_switch(pair, old, deadline=2 * longest + 6, linger=linger)
    for q, (ours_at, theirs_at) in times.items():
        ttl = questions[q]
        # both count whole seconds from the same second: they switch at the same poll
        assert abs(ours_at - theirs_at) <= pair.sampling, f"{q}: ours {ours_at} vs {theirs_at}"
        # whole seconds: fresh through the second of floor(stored) + ttl, gone at the next
        took = ours_at - filled
        assert ttl < took <= ttl + 1 + pair.sampling, f"{q}: ours switched after {took:.2f}s"


V1 = "a 3 IN A 192.0.2.1\nb 2 IN A 192.0.2.5\n"
V2 = "a 3 IN A 192.0.2.2\nb 2 IN A 192.0.2.6\nnew 3 IN A 192.0.2.9\na 3 IN AAAA 2001:db8::1\n"


def test_positive_and_negative_ttls_agree_across_expiry(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    knot = lab_knot(procs, tmp_path, zone_text(1, V1, minimum=2))
    pair = start_pair(procs, tmp_path / "unbound", knot, {})
    questions = {
        ("a.lab.example.", "A"): 3,
        ("b.lab.example.", "A"): 2,
        ("new.lab.example.", "A"): 2,  # NXDOMAIN, SOA MINIMUM 2
        ("a.lab.example.", "AAAA"): 2,  # NODATA
    }
    run_sequence(pair, knot, questions, zone_text(2, V2, minimum=2), 2)


CLAMPS: dict[str, object] = {
    "cache-min-ttl": 2,
    "cache-max-ttl": 4,
    "cache-max-negative-ttl": 3,
}
C1 = "short 1 IN A 192.0.2.1\nlong 3600 IN A 192.0.2.5\n"
C2 = "short 1 IN A 192.0.2.2\nlong 3600 IN A 192.0.2.6\nnew 1 IN A 192.0.2.9\nshort 1 IN AAAA ::1\n"


def test_min_max_and_negative_clamps_agree(procs: ProcessGroup, tmp_path: Path) -> None:
    knot = lab_knot(procs, tmp_path, zone_text(1, C1, soa_ttl=3600, minimum=3600))
    pair = start_pair(procs, tmp_path / "unbound", knot, CLAMPS)
    questions = {
        ("short.lab.example.", "A"): 2,  # raised by cache-min-ttl
        ("long.lab.example.", "A"): 4,  # cut by cache-max-ttl
        ("new.lab.example.", "A"): 3,  # NXDOMAIN cut by cache-max-negative-ttl
        ("short.lab.example.", "AAAA"): 3,  # NODATA likewise
    }
    run_sequence(pair, knot, questions, zone_text(2, C2, soa_ttl=3600, minimum=3600), 2)


def test_serve_expired_and_servfail_agree_when_upstream_dies(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    knot = lab_knot(procs, tmp_path, zone_text(1, V1, minimum=2))
    stale = start_pair(procs, tmp_path / "u1", knot, {"serve-expired": True})
    strict = start_pair(procs, tmp_path / "u2", knot, {})
    q: Question = ("b.lab.example.", "A")  # TTL 2
    for pair in (stale, strict):
        assert_agree(q, *pair.both(q))
    filled = time.monotonic()  # every entry was stored before this
    knot.endpoint.child.stop()
    # past the TTL, both answer stale (serve-expired-reply-ttl 30), after TTL 0 answers through
    # the second the entry expires in
    wait_for(lambda: ask(stale.ours, *q).ttls == (30,), 8, "our stale answer")
    wait_for(lambda: ask(stale.theirs, *q).ttls == (30,), 1.5, "unbound's stale answer")
    ours, theirs = stale.both(q)
    assert ours.rcode == "NOERROR" and ours.data == ("192.0.2.5",)
    assert_agree(q, ours, theirs)
    # ... and without serve-expired neither serves the old data: ours says SERVFAIL after its
    # upstream tries (3 x 1 s by default); Unbound 1.17 keeps retrying a dead forwarder and does
    # not answer at all for a minute or more (measured), so for it "no stale answer" is a timeout.
    # Whole seconds: an entry stored at wall time w is fresh until floor(w) + TTL + 1 <= w + 3,
    # and the strict pair may have stored its entry a second later than the stale pair.
    wait_for(lambda: time.monotonic() - filled > 3.05, 5, "the strict pair's entries expire")
    assert ask(strict.ours, *q, timeout=10).rcode == "SERVFAIL"
    with contextlib.suppress(dns.exception.Timeout):
        assert ask(strict.theirs, *q, timeout=2).rcode == "SERVFAIL"


def test_prefetch_refreshes_before_expiry_like_unbound(procs: ProcessGroup, tmp_path: Path) -> None:
    """TTL 20: a hit in the last 2 s (age >= 18, Unbound's ttl - ttl/10) refreshes in the
    background, so shortly after, both serve the zone's new data before the old TTL ran out;
    the same pair without prefetch still serves the old data then."""
    knot = lab_knot(procs, tmp_path, zone_text(1, "p 20 IN A 192.0.2.1\n"))
    eager = start_pair(procs, tmp_path / "u1", knot, {"prefetch": True})
    lazy = start_pair(procs, tmp_path / "u2", knot, {})
    q: Question = ("p.lab.example.", "A")
    # every entry is stored after the first stamp and before the second: the ages of all
    # four lie between now - filled and now - began (one stamp for both bounds was off by
    # the fill's duration, long on a loaded machine)
    began = time.monotonic()
    for pair in (eager, lazy):
        assert_agree(q, *pair.both(q))
    filled = time.monotonic()
    knot.load(zone_text(2, "p 20 IN A 192.0.2.2\n"), 2)
    wait_for(lambda: time.monotonic() - filled >= 18.2, 22, "age 18.2 s")
    for pair in (eager, lazy):  # hits in the last 10%: old data; the eager pair prefetches
        ours, theirs = pair.both(q)
        assert ours.data == theirs.data == ("192.0.2.1",)
    wait_for(lambda: ask(eager.ours, *q).data == ("192.0.2.2",), 1, "our prefetch")
    wait_for(lambda: ask(eager.theirs, *q).data == ("192.0.2.2",), 1, "unbound's prefetch")
    ours, theirs = lazy.both(q)
    assert time.monotonic() - began < 20, "the checks must run before the old TTL ran out"
    assert ours.data == theirs.data == ("192.0.2.1",)


def test_serve_expired_client_timeout_agrees_with_unbound(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """RFC 8767 client timeout: the upstream hangs (SIGSTOP), the entry has expired; both
    resolvers wait serve-expired-client-timeout (300 ms), then answer stale with TTL 30."""
    knot = lab_knot(procs, tmp_path, zone_text(1, V1, minimum=2))
    options: dict[str, object] = {"serve-expired": True, "serve-expired-client-timeout": 300}
    pair = start_pair(procs, tmp_path / "u", knot, options)
    q: Question = ("b.lab.example.", "A")  # TTL 2
    assert_agree(q, *pair.both(q))
    # stamped after the fill: both entries were stored before it, so 3.2 s from here is past
    # their TTL (from a stamp before the fill, a slow fill could leave one fresh, TTL 0)
    filled = time.monotonic()
    knot.endpoint.child.kill(signal.SIGSTOP)
    try:
        wait_for(lambda: time.monotonic() - filled > 3.2, 5, "past the TTL and Unbound's second")
        for addr in (pair.ours, pair.theirs):
            started = time.monotonic()
            seen = ask(addr, *q, timeout=5)
            took = time.monotonic() - started
            assert seen.data == ("192.0.2.5",) and seen.ttls == (30,), (addr, seen)
            assert 0.25 <= took < 1.5, f"{addr}: stale answer after {took:.3f}s"
    finally:
        knot.endpoint.child.kill(signal.SIGCONT)


def test_serve_original_ttl_agrees_with_unbound(procs: ProcessGroup, tmp_path: Path) -> None:
    """serve-original-ttl: answers keep the TTL as received (a non-decrementing cache), and the
    min/max clamps are off (Unbound's documented behaviour): a 1 s record lives 1 s despite
    cache-min-ttl 2."""
    records = "a 3 IN A 192.0.2.1\nshort 1 IN A 192.0.2.5\n"
    changed = "a 3 IN A 192.0.2.2\nshort 1 IN A 192.0.2.6\n"
    knot = lab_knot(procs, tmp_path, zone_text(1, records))
    options: dict[str, object] = {"serve-original-ttl": True, "cache-min-ttl": 2}
    pair = start_pair(procs, tmp_path / "u", knot, options)
    questions = {("a.lab.example.", "A"): 3, ("short.lab.example.", "A"): 1}
    run_sequence(pair, knot, questions, zone_text(2, changed), 2, constant_ttls=True)
    ours, theirs = pair.both(("a.lab.example.", "A"))
    assert ours.ttls == theirs.ttls == (3,)


T1 = "two 2 IN A 192.0.2.1\nthree 3 IN A 192.0.2.2\n"
T2 = "two 2 IN A 192.0.2.11\nthree 3 IN A 192.0.2.12\ngone 2 IN A 192.0.2.13\n"


def test_default_ttls_equal_unbounds_through_the_expiry_second(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """Issue 12: with *default* settings, every poll asked within one wall-clock second gets the
    same data and exactly the same TTLs from both — including the TTL-0 answers Unbound gives
    during the second an entry expires in — and both refetch at the same poll. TTLs of 2 and
    3 s and an NXDOMAIN (SOA MINIMUM 2), polled every 50 ms across their expiries (the zone
    changes right after the fill, so a refetch shows as new data)."""
    knot = lab_knot(procs, tmp_path, zone_text(1, T1, minimum=2))
    pair = start_pair(procs, tmp_path / "unbound", knot, {})
    questions = [("two.lab.example.", "A"), ("three.lab.example.", "A"), ("gone.lab.example.", "A")]
    old, _ = fill(pair, {q: ttl for q, ttl in zip(questions, (2, 3, 2), strict=True)})
    knot.load(zone_text(2, T2, minimum=2), 2)
    zero_seconds: dict[Question, set[int]] = {q: set() for q in questions}  # old data, TTL 0
    switched: dict[tuple[str, Question], int] = {}
    counts = {"compared": 0, "straddled": 0}
    polls = [0]

    def poll() -> bool:
        if time.time() % 1 >= GATE:
            return False
        polls[0] += 1
        for q in questions:
            second = int(time.time())
            ours, theirs, _, one = in_one_second(pair, q)
            if not one:
                counts["straddled"] += 1
                continue
            counts["compared"] += 1
            assert ours.same_data(theirs), f"{q}: ours {ours} vs unbound {theirs}"
            assert ours.ttls == theirs.ttls, f"{q}: TTL ours {ours.ttls} vs unbound {theirs.ttls}"
            if ours.same_data(old[q]) and ours.ttls and max(ours.ttls) == 0:
                zero_seconds[q].add(second)
            for side, seen in (("ours", ours), ("unbound", theirs)):
                if not seen.same_data(old[q]):
                    switched.setdefault((side, q), polls[0])
        return len(switched) == 2 * len(questions)

    wait_for(poll, 10, "both resolvers refetch every question", interval=0.05)
    assert counts["straddled"] <= counts["compared"] // 10, counts
    for q in questions:
        assert switched[("ours", q)] == switched[("unbound", q)], f"{q}: {switched}"
        assert len(zero_seconds[q]) == 1, f"{q}: old data with TTL 0 in seconds {zero_seconds[q]}"
