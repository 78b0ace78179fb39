"""Bounded mutation fuzzing of the running servers (issue 13 item 6): `dnslab authoritative`
with the lab's GeoDNS config, and `dnslab resolver` in front of it, over UDP and TCP.

No crash, and every reply well formed: QR set, ID and question echoed, parseable by dnspython
(tests/integration/wirefuzz.py says exactly what is checked). Fixed seeds keep a failure
reproducible; `python bench/fuzz_servers.py --seconds 600 --seed N` runs longer.

Mutations that fail this (tried): the authoritative echoing a FORMERR without QR
(`flags = 0x80 | ...` → `flags = data[2] & 0x79` in engine.error_reply); the resolver
answering responses again (`or wire[2] & 0x80` removed from its drop check in
resolver/server.py: "a response (QR=1) was answered").
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.procs import ProcessGroup
from tests.conftest import DNSLAB, REPO
from tests.integration import wirefuzz
from tests.resolver.peers import start_dnslab_resolver, start_lab_authoritative

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NAMES = ("www.lab.example.", "static.lab.example.", "lab.example.", "nope.lab.example.")
SEEDS = wirefuzz.seed_queries(NAMES)


def hostport(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    work: Path = tmp_path_factory.mktemp("fuzz")
    group = ProcessGroup(log_dir=work / "logs")
    try:
        auth, dns_addr, _ = start_lab_authoritative(group, DNSLAB, REPO / "lab.toml")
        resolver, listen, _ = start_dnslab_resolver(
            group, DNSLAB, dns_addr, {"upstream-timeout-ms": 200, "outbound-msg-retry": 0}
        )
        yield {"auth": (auth, dns_addr), "resolver": (resolver, listen)}
    finally:
        group.stop_all()


def _fuzz(lab: dict[str, object], which: str, seed: int, wait: float) -> wirefuzz.Stats:
    child, addr = lab[which]  # type: ignore[misc]
    stats = wirefuzz.run(
        hostport(addr),
        SEEDS,
        "www.lab.example.",
        child.alive,
        seed=seed,
        rounds=4,
        udp_per_round=400,
        tcp_per_round=64,
        wait=wait,
    )
    assert stats.sent >= 4 * 464 and stats.replies > 0, stats
    assert not stats.findings, "\n".join(str(f) for f in stats.findings[:10])
    return stats


@pytest.mark.parametrize("seed", [1, 2])
def test_authoritative_survives_and_every_reply_is_well_formed(
    lab: dict[str, object], seed: int
) -> None:
    _fuzz(lab, "auth", seed, wait=0.3)


@pytest.mark.parametrize("seed", [1, 2])
def test_resolver_survives_and_every_reply_is_well_formed(
    lab: dict[str, object], seed: int
) -> None:
    # a forwarded query may wait for the upstream (200 ms, no retry) before it is answered
    _fuzz(lab, "resolver", seed, wait=0.6)


def test_the_checker_rejects_malformed_replies() -> None:
    """The reply checks themselves can fail (each on a fixed example)."""
    q = SEEDS[0]
    good = bytearray(q)
    good[2] |= 0x80
    assert wirefuzz.reply_problem(q, bytes(good)) is None
    no_qr = bytes(q)
    assert wirefuzz.reply_problem(q, no_qr) == "reply without QR"
    other_id = bytes([good[0] ^ 1]) + bytes(good[1:])
    assert "reply ID" in str(wirefuzz.reply_problem(q, other_id))
    other_q = wirefuzz.seed_queries(["other.lab.example."])[0]
    swapped = bytearray(other_q)
    swapped[:2], swapped[2] = q[:2], swapped[2] | 0x80
    assert "question" in str(wirefuzz.reply_problem(q, bytes(swapped)))
    assert "shorter than a header" in str(wirefuzz.reply_problem(q, bytes(good[:11])))
    trailing = bytes(good) + b"\0"
    assert "dnspython cannot parse" in str(wirefuzz.reply_problem(q, trailing))
    response = bytes(good)
    assert wirefuzz.reply_problem(response, bytes(good)) == "a response (QR=1) was answered"
