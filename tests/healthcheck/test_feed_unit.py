"""HealthFeed's message handling and backoff, without a connection."""

from __future__ import annotations

import random

from healthcheck.events import RegionStatus, Snapshot, StateEvent
from healthcheck.feed import HealthFeed
from healthcheck.sse import SSEMessage


def st(region: str, state: str, probes: int = 1) -> RegionStatus:
    return RegionStatus(
        checker="c", region=region, state=state, since=1.0, reason="r", rtt_s=0.001,  # type: ignore[arg-type]
        next_change_at=None, next_change_in_s=None, last_probe_at=None, last_detail=None,
        probes=probes, failures=0, transitions=1,
    )  # fmt: skip


def test_snapshot_events_statuses_and_duplicates() -> None:
    calls: list[str] = []
    feed = HealthFeed(
        "http://x/v1/events",
        on_snapshot=lambda s: calls.append("snap"),
        on_event=lambda e: calls.append(f"ev{e.seq}"),
        on_update=lambda s: calls.append(f"st{s.probes}"),
    )
    snap = Snapshot(id="b-4", seq=4, boot="b", checker="c", at=0.0, regions=[st("eu", "up")])
    feed._handle(SSEMessage("snapshot", snap.model_dump_json(), "b-4"))
    ev = StateEvent(id="b-5", seq=5, boot="b", at=1.0, previous="up", status=st("eu", "down"))
    feed._handle(SSEMessage("state", ev.model_dump_json(), "b-5"))
    feed._handle(SSEMessage("state", ev.model_dump_json(), "b-5"))  # duplicate: ignored
    feed._handle(SSEMessage("status", st("eu", "down", 7).model_dump_json(), "b-5"))
    feed._handle(SSEMessage("status", st("eu", "up", 8).model_dump_json(), "b-5"))  # stale
    feed._handle(SSEMessage("message", "ignored", None))
    assert calls == ["snap", "ev5", "st7"]
    assert feed.last_id == "b-5" and feed.view["eu"].probes == 7
    # a new checker run: its snapshot replaces everything, its ids restart
    snap2 = Snapshot(id="n-0", seq=0, boot="n", checker="c", at=2.0, regions=[st("us", "unknown")])
    feed._handle(SSEMessage("snapshot", snap2.model_dump_json(), "n-0"))
    assert list(feed.view) == ["us"] and feed.last_id == "n-0"


def test_backoff_is_capped_full_jitter_and_follows_retry() -> None:
    feed = HealthFeed("http://x", backoff_initial=0.1, backoff_max=2.0, rng=random.Random(1))
    for attempt in range(12):
        cap = min(2.0, 0.1 * 2**attempt)
        delays = [feed.backoff(attempt) for _ in range(50)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap / 2
    feed.retry_ms = 1000
    assert all(feed.backoff(0) <= 1.0 for _ in range(50))
    assert max(feed.backoff(1) for _ in range(50)) > 1.0


def test_status_callback_only_on_change() -> None:
    seen: list[bool] = []
    feed = HealthFeed("http://x", on_status=seen.append)
    for up in (False, True, True, False, False, True):
        feed._set_up(up)
    assert seen == [True, False, True]


def test_refused_connects_retry_within_quick_max_then_back_off() -> None:
    feed = HealthFeed("http://x", rng=random.Random(2))
    feed.retry_ms = 500
    # a long-lived stream that ended: reconnect at once; a short one backs off as usual
    assert feed.next_wait(True, 5.0, None, 0, 0) == 0.0
    assert max(feed.next_wait(True, 0.2, None, 0, 0) for _ in range(50)) > 0.1
    # refused: quick, full jitter, never above quick_max (25 ms), growing from 5 ms
    first = [feed.next_wait(False, 0.0, 0.0, 1, 0) for _ in range(50)]
    assert all(0 <= d <= 0.005 for d in first)
    later = [feed.next_wait(False, 0.0, 3.0, 9, 8) for _ in range(200)]
    assert all(0 <= d <= feed.quick_max for d in later) and max(later) > feed.quick_max / 2
    # refused for longer than quick_for (10 s): the ordinary backoff (up to 1 s)
    slow = [feed.next_wait(False, 0.0, 10.5, 9, 80) for _ in range(50)]
    assert max(slow) > 0.5 and all(d <= 1.0 for d in slow)
    # any other failure: the ordinary backoff
    assert max(feed.next_wait(False, 0.0, None, 3, 0) for _ in range(50)) > 0.5
