"""Issue 13 findings 1-3 against real processes, in a lab started the way `dnslab up` starts it
(a lab secret, signed health feed, region proofs, saved health view).

* finding 1: a fake SSE server on the dead checker's address is refused (metrics + log), and
  so is a replay of a genuine signed stream; a fake server on a down region's freed port does
  not make the checker mark the region up.
* finding 2: a restart of the authoritative server mid-outage, with the checker alive or
  dead, never answers the region it knew was down (eu clients polled every 20 ms);
  ``health_feed_up`` is exported from the start; the feed is back quickly after the checker.
* finding 3: the age of the kept state is exported and explained; after ``max_stale`` it is
  reported expired.
"""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from pathlib import Path

import dns.rcode
import pytest

from lab.auth import NONCE_HEADER, control_token, read_secret
from lab.procs import ProcessGroup, wait_for
from lab.up import Lab
from tests.integration.control_lab import (
    EU_CLIENT,
    NA_CLIENT,
    REGIONS,
    RISE,
    Poller,
    Squatter,
    admin_json,
    ask,
    checker_state,
    hp,
    metric,
    start_lab,
    unsigned_all_up,
    wait_answer,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EU, US = [REGIONS["eu-west"]], [REGIONS["us-east"]]
# a restarted checker is followed again within: its start + first probe round + the feed's
# capped backoff (1 s) + connect; 10 s is wide for a loaded 2-core machine, far below the 5 s
# backoff cap plus start-up that made the old feed slow
BACK_WITHIN_S = 10.0
READY_TO_FEED_S = 3.0


def post_fault(lab: Lab, region: str, body: dict[str, object]) -> int:
    comp, _ = lab.region(region)
    assert comp.control and comp.secret_file
    token = control_token(read_secret(comp.secret_file), region)
    req = urllib.request.Request(
        f"http://{comp.control}/v1/faults",
        json.dumps(body).encode(),
        {"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(req, timeout=3) as resp:
        return int(resp.status)


def feed_up(cfg: object, timeout: float = 15.0) -> None:
    wait_for(
        lambda: metric(cfg, "dnslab_authoritative_health_feed_up", checker="local") == 1,
        timeout,
        "the authenticated feed is up",
    )


def feed_down(cfg: object, timeout: float = 10.0) -> None:
    wait_for(
        lambda: metric(cfg, "dnslab_authoritative_health_feed_up", checker="local") == 0,
        timeout,
        "the feed is down",
    )


def checker_back_quickly(lab: Lab, cfg: object) -> None:
    """Finding 2: the old backoff reached 5 s, so answers were fixed 4.6 s after the checker
    came back. Now: the feed's backoff is capped at 1 s and the checker's first snapshot
    follows its first probe round (timeout interval/2), so from the checker's ready line the
    feed is up within READY_TO_FEED_S (1 s + 0.1 s + 1.9 s of slack for a loaded machine)."""
    lab.restart("healthcheck local")
    t0 = time.monotonic()
    feed_up(cfg, BACK_WITHIN_S)
    took = time.monotonic() - t0
    print(f"feed up {took:.2f}s after the restarted checker was ready")
    assert took <= READY_TO_FEED_S


def eu_west_down(lab: Lab, cfg: object) -> None:
    """Take eu-west down for real and wait until eu clients are sent to us-east."""
    feed_up(cfg)
    assert post_fault(lab, "eu-west", {"fault": "down"}) == 200
    wait_answer(cfg, EU_CLIENT, US, 10, "eu clients moved to us-east")


def never_eu_west(poller: Poller) -> None:
    answered = poller.answered()
    assert answered, "no answer at all while polling"
    bad = [a for a in answered if REGIONS["eu-west"] in a]
    assert not bad, f"{len(bad)} of {len(answered)} answers sent eu clients to the dead eu-west"


def log_of(lab: Lab, name: str) -> str:
    path = lab.child(name).log_path
    assert path is not None
    return path.read_text(errors="replace")


def test_fake_checker_is_refused_and_visible(tmp_path: Path) -> None:
    lab, cfg = start_lab(tmp_path)
    with lab:
        wait_answer(cfg, EU_CLIENT, EU, 15, "eu clients on eu-west")
        feed_up(cfg)
        # record a genuine signed stream (hello + snapshot) for a replay later
        host, port = hp(cfg.checkers[0].listen)
        req = urllib.request.Request(
            f"http://{host}:{port}/v1/events", headers={NONCE_HEADER: "recorded-nonce"}
        )
        recorded = b""
        with urllib.request.urlopen(req, timeout=3) as resp:
            while recorded.count(b"\n\n") < 2:
                recorded += resp.read1(65536)
        assert recorded.startswith(b"sig: ") and b"event: hello" in recorded
        eu_west_down(lab, cfg)
        lab.child("healthcheck local").kill(signal.SIGKILL)
        feed_down(cfg)
        # finding 1: a fake checker on the freed address says every region is up (unsigned)
        fake_sse = unsigned_all_up()
        refused = "dnslab_authoritative_health_feed_refused_total"
        with Poller(cfg, EU_CLIENT) as eu, Poller(cfg, NA_CLIENT) as na:
            fake = Squatter(host, port, fake_sse)
            try:
                wait_for(
                    lambda: (metric(cfg, refused, checker="local", reason="unsigned") or 0) >= 2,
                    10,
                    "the unsigned fake stream refused twice",
                )
            finally:
                fake.close()
            # a replay of the genuine stream does not verify under the server's fresh nonce
            replay = Squatter(host, port, recorded)
            try:
                wait_for(
                    lambda: (
                        (metric(cfg, refused, checker="local", reason="bad signature") or 0) >= 2
                    ),
                    10,
                    "the replayed stream refused twice",
                )
            finally:
                replay.close()
            assert metric(cfg, "dnslab_authoritative_health_feed_up", checker="local") == 0
        never_eu_west(eu)
        assert all(a == US for a in na.answered())
        log = log_of(lab, "authoritative")
        assert "refused stream: unsigned" in log and "refused stream: bad signature" in log
        assert admin_json(cfg, "/v1/health")["regions"]["eu-west"]["state"] == "down"
        # the real checker comes back and is followed again quickly
        checker_back_quickly(lab, cfg)


def test_squatter_on_a_down_regions_port_is_not_believed(tmp_path: Path) -> None:
    lab, cfg = start_lab(tmp_path)
    with lab:
        wait_answer(cfg, EU_CLIENT, EU, 15, "eu clients on eu-west")
        eu_west_down(lab, cfg)
        host, port = hp(cfg.regions["eu-west"].listen or "")
        squatter = Squatter(host, port)
        try:
            # finding 1: the fake answered 200 and the checker marked eu-west up in 3.6 s.
            # Now: every probe reaches the squatter, and none counts (no proof)
            seen = squatter.requests
            need = seen + 4 * RISE  # far more probes than rise needs to bring it back
            wait_for(lambda: squatter.requests >= need, 10, "the checker probed the squatter")
            st = checker_state(cfg, "eu-west")
            assert st is not None and st["state"] == "down", st
            assert "no proof" in (st["last_detail"] or ""), st
            assert ask(cfg, EU_CLIENT) == US
            # the region cannot reopen while the squatter holds its port, and says so
            comp, _ = lab.region("eu-west")
            token = control_token(read_secret(comp.secret_file or ""), "eu-west")
            req = urllib.request.Request(
                f"http://{comp.control}/v1/faults",
                b'{"fault": "clear"}',
                {"Authorization": f"Bearer {token}"},
            )
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(req, timeout=3)
            assert err.value.code == 503
            err.value.close()
        finally:
            squatter.close()
        # the squatter left: the region's retry rebinds, proves itself, and clients return
        wait_answer(cfg, EU_CLIENT, EU, 10, "eu clients back on eu-west")
        st = checker_state(cfg, "eu-west")
        assert st is not None and "proof ok" in (st["last_detail"] or ""), st


@pytest.mark.parametrize("checker_alive", [True, False], ids=["checker-alive", "checker-dead"])
def test_restart_mid_outage_never_answers_the_dead_region(
    tmp_path: Path, checker_alive: bool
) -> None:
    lab, cfg = start_lab(tmp_path)
    with lab:
        wait_answer(cfg, EU_CLIENT, EU, 15, "eu clients on eu-west")
        eu_west_down(lab, cfg)
        state_file = tmp_path / "state" / "health-state.json"
        wait_for(
            lambda: state_file.exists() and '"up":false' in state_file.read_text(),
            5,
            "eu-west down saved",
        )
        if not checker_alive:
            lab.child("healthcheck local").kill(signal.SIGKILL)
            feed_down(cfg)
        with Poller(cfg, EU_CLIENT) as eu:
            for _ in range(5):  # repeat: the first answers after a start are the risky ones
                lab.child("authoritative").kill(signal.SIGKILL)
                lab.restart("authoritative")
                wait_answer(cfg, EU_CLIENT, US, 5, "answers after the restart")
                eu.wait_more(10)
                # exported from the start, 0 until a feed connects
                assert metric(cfg, "dnslab_authoritative_health_feed_up", checker="local") in (
                    (0.0, 1.0) if checker_alive else (0.0,)
                )
            if checker_alive:
                feed_up(cfg, BACK_WITHIN_S)
            eu.wait_more(25)  # keep polling a little after everything settled
        never_eu_west(eu)
        print(f"{len(eu.answered())} answers, none to eu-west")
        assert "health view restored from" in log_of(lab, "authoritative")
        if not checker_alive:
            age = metric(cfg, "dnslab_authoritative_health_state_age_seconds", checker="local")
            assert age is not None and age > 0
            checker_back_quickly(lab, cfg)
            assert ask(cfg, EU_CLIENT) == US  # eu-west is still down for real


def test_kept_state_age_is_exported_explained_and_expires(tmp_path: Path) -> None:
    max_stale = 2.0
    lab, cfg = start_lab(tmp_path, extra_auth=f"max_stale = {max_stale}")
    with lab:
        wait_answer(cfg, EU_CLIENT, EU, 15, "eu clients on eu-west")
        feed_up(cfg)
        age = "dnslab_authoritative_health_state_age_seconds"
        assert metric(cfg, age, checker="local") == 0
        assert metric(cfg, "dnslab_authoritative_health_state_expired", checker="local") == 0
        lab.child("healthcheck local").kill(signal.SIGKILL)
        wait_for(lambda: (metric(cfg, age, checker="local") or 0) > 0.5, 10, "age grows")
        # The kept last word is whatever the checker said before it died: with checks every
        # 0.2 s and fall 2, a loaded machine can catch eu-west in a transient "down" (seen once
        # in a full-suite run). Read the frozen view and hold the server to it after expiry.
        kept = {n: r["state"] for n, r in admin_json(cfg, "/v1/health")["regions"].items()}
        kept_answer = ask(cfg, EU_CLIENT)
        assert kept["eu-west"] != "up" or kept_answer == EU, (kept, kept_answer)
        e = admin_json(cfg, f"/v1/explain?name=www.lab.example.&client={EU_CLIENT}")
        assert "last word" in json.dumps(e) and "kept" in json.dumps(e)
        wait_for(
            lambda: metric(cfg, "dnslab_authoritative_health_state_expired", checker="local") == 1,
            max_stale + 5,
            "kept state reported expired",
        )
        assert (metric(cfg, age, checker="local") or 0) > max_stale
        e = admin_json(cfg, f"/v1/explain?name=www.lab.example.&client={EU_CLIENT}")
        assert "EXPIRED" in json.dumps(e)
        h = admin_json(cfg, "/v1/health")
        assert h["kept_state"]["local"]["expired"] is True and h["on_expired"] == "keep"
        # on_expired = "keep": the last word still serves, unchanged by the expiry
        assert {n: r["state"] for n, r in h["regions"].items()} == kept
        assert ask(cfg, EU_CLIENT) == kept_answer


def test_assume_down_without_knowledge_is_servfail_not_every_region(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    """Finding 2: with assume = "down" and no report yet, all_down = "fail-open" answered as
    if every region were up. Now GeoDNS names answer SERVFAIL until a region is checked."""
    from tests.integration import geo_lab

    _, port, admin = geo_lab.start_lab(procs, tmp_path, **{'assume = "up"': 'assume = "down"'})
    for source in (EU_CLIENT, NA_CLIENT):
        r = geo_lab.ask(port, source)
        assert r.rcode() == dns.rcode.SERVFAIL and not r.answer, r
    h = geo_lab.admin(admin, "GET", "/v1/health").json()
    assert h["feeds"]["local"] == "never connected"
    assert all(r["state"] != "up" for r in h["regions"].values())
    text = geo_lab.admin(admin, "GET", "/metrics").text
    assert 'dnslab_authoritative_health_feed_up{checker="local"} 0.0' in text
