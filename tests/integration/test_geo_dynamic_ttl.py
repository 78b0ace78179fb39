"""Dynamic (gdnsd DYNA) TTLs on a real server, fed by a checker event stream with exact values."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from lab.procs import ProcessGroup, free_port, wait_for
from tests.integration.geo_lab import (
    AUTH,
    admin,
    ask,
    fake_checker,
    region_status,
    start_lab,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DYNAMIC = {'ttl_policy = "fixed"': 'ttl_policy = "dynamic"', "ttl_max = 30": "ttl_max = 300"}


def ttl(port: int, src: str) -> int:
    return int(ask(port, src).answer[0].ttl)


def ttl_at(port: int, src: str, next_change_at: float) -> bool:
    """The answer's TTL is floor(next_change_at - now) for `now` around the query."""
    before = time.time()
    got = ttl(port, src)
    after = time.time()
    expected = {math.floor(next_change_at - before), math.floor(next_change_at - after)}
    assert got in expected, (got, expected)
    return True


def test_dynamic_ttl_is_the_time_to_the_next_possible_change(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    checker = free_port()
    now = time.time()
    # us-east could change 120.6 s from now, eu-west 40.6 s, ap-south 1000 s (clamped to 300)
    regions = [
        region_status("us-east", "up", now + 120.6),
        region_status("eu-west", "up", now + 40.6),
        region_status("ap-south", "up", now + 1000.0),
    ]
    with fake_checker(checker, regions):
        _, port, admin_port = start_lab(procs, tmp_path, checker_port=checker, **DYNAMIC)
        wait_for(
            lambda: (
                admin(admin_port, "GET", "/v1/health")
                .json()["regions"]["eu-west"]["why"]
                .startswith("1 of 1")
            ),
            10,
            "snapshot applied",
        )
        # hand-computed: TTL = floor(next_change_at - now), clamped to [5, 300]
        assert ttl_at(port, "127.1.0.10", now + 120.6)  # na: us-east decided
        assert ttl_at(port, "127.2.0.10", now + 40.6)  # eu: eu-west decided
        assert ttl(port, "127.3.0.10") == 300  # ap: ap-south could change in ~1000 s: clamped
        # eu-west forced down (never changes by itself): eu clients go to us-east -> us-east's time
        admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
        assert ttl_at(port, "127.2.0.10", now + 120.6)
        assert ttl_at(
            port, "127.0.0.1", now + 120.6
        )  # unmatched: default order starts with us-east


def test_assumed_health_gives_ttl_min_and_forced_gives_ttl_max(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    _, port, admin_port = start_lab(procs, tmp_path, **DYNAMIC)  # no checker answers: assumed up
    assert ttl(port, "127.2.0.10") == 5
    admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "up"}, headers=AUTH)
    assert ttl(port, "127.2.0.10") == 300
    admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": None}, headers=AUTH)
    assert ttl(port, "127.2.0.10") == 5
