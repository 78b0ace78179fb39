"""Health from a checker's event stream: a state event shows in the very next answers; a dead
feed keeps the last word (fail-static) and says so."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from lab.procs import ProcessGroup, free_port, wait_for
from tests.integration.geo_lab import (
    addrs,
    admin,
    ask,
    fake_checker,
    region_status,
    start_lab,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_state_events_move_clients_and_a_dead_feed_keeps_the_last_state(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    port_c = free_port()
    regions = [region_status(r, "up", time.time() + 60) for r in ("us-east", "eu-west", "ap-south")]
    with fake_checker(port_c, regions) as checker:
        _, port, admin_port = start_lab(procs, tmp_path, checker_port=port_c)

        def health() -> dict[str, Any]:
            body: dict[str, Any] = admin(admin_port, "GET", "/v1/health").json()
            return body

        wait_for(lambda: health()["regions"]["eu-west"]["why"].startswith("1 of 1"), 10, "snapshot")
        assert addrs(ask(port, "127.2.0.10")) == ["127.0.2.1"]

        checker.send_state("eu-west", "down", "up")
        wait_for(
            lambda: addrs(ask(port, "127.2.0.10")) == ["127.0.1.1"],
            5,
            "eu clients moved",
            interval=0.001,
        )
        moved = time.time()
        assert checker.sent_at, "event was written"
        print(
            f"propagation (event written -> answer changed, incl. polling): {moved - checker.sent_at[0]:.4f}s"
        )
        assert moved - checker.sent_at[0] < 1.0
        assert addrs(ask(port, "127.1.0.10")) == ["127.0.1.1"]
        assert addrs(ask(port, "127.3.0.10")) == ["127.0.3.1"]

        checker.send_state("eu-west", "up", "down")
        wait_for(lambda: addrs(ask(port, "127.2.0.10")) == ["127.0.2.1"], 5, "eu clients back")
        checker.send_state("eu-west", "down", "up")
        wait_for(
            lambda: addrs(ask(port, "127.2.0.10")) == ["127.0.1.1"], 5, "eu clients moved again"
        )
    # the checker is gone: its last word (eu-west down) is kept, and the view says so
    wait_for(lambda: health()["feeds"]["local"] == "down", 10, "feed marked down")
    h = health()["regions"]["eu-west"]
    assert h["state"] == "down" and "feed down, last word kept: local" in h["why"]
    assert addrs(ask(port, "127.2.0.10")) == ["127.0.1.1"]
    metrics = admin(admin_port, "GET", "/metrics").text
    assert 'dnslab_authoritative_health_feed_up{checker="local"} 0.0' in metrics
