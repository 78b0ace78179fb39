"""Quorum over several vantage points (real server, three fake checker streams)."""

from __future__ import annotations

import contextlib
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


@pytest.mark.parametrize(
    ("quorum", "downs_needed"), [('"majority"', 2), ('"route53"', 3), ("3", 1)]
)
def test_quorum_of_three_checkers(
    procs: ProcessGroup, tmp_path: Path, quorum: str, downs_needed: int
) -> None:
    ports = [free_port() for _ in range(3)]
    extra = "".join(
        f'\n[[checkers]]\nname = "c{i}"\nlisten = "127.0.0.1:{p}"\n'
        for i, p in enumerate(ports[1:], 1)
    )
    up = [region_status(r, "up", time.time() + 60) for r in ("us-east", "eu-west", "ap-south")]
    with contextlib.ExitStack() as stack:
        names = ["local", "c1", "c2"]  # each signs as the checker the server expects there
        checkers = [
            stack.enter_context(fake_checker(p, up, n)) for p, n in zip(ports, names, strict=True)
        ]
        _, port, admin_port = start_lab(
            procs,
            tmp_path,
            extra,
            checker_port=ports[0],
            **{'quorum = "majority"': f"quorum = {quorum}"},
        )

        def why() -> str:
            body: dict[str, Any] = admin(admin_port, "GET", "/v1/health").json()
            return str(body["regions"]["eu-west"]["why"])

        wait_for(lambda: why().startswith("3 of 3"), 10, "three snapshots")
        for n, checker in enumerate(checkers, 1):
            checker.send_state("eu-west", "down", "up")
            wait_for(lambda n=n: why().startswith(f"{3 - n} of 3"), 5, f"{n} checkers say down")
            expected = ["127.0.1.1"] if n >= downs_needed else ["127.0.2.1"]
            assert addrs(ask(port, "127.2.0.10")) == expected, (n, why())
