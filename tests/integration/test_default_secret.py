"""The per-user default lab secret (issue 13, Deliver 1 for processes started by hand):
with ``control.auth = "auto"`` and no secret given, every component uses
``$XDG_STATE_HOME/dnslab/secret`` (tests/conftest.py points XDG_STATE_HOME at a per-session
directory). Real processes:

* a region, a checker and the authoritative server started with no secret flag at all
  authenticate each other: the feed is up only once the checker's signed hello verified, the
  checker reports ``proof ok``, the fault API takes the token ``dnslab secret --token`` prints
  and refuses a POST without it; then a fake *unsigned* SSE server on the dead checker's
  address is refused, visible in ``health_feed_refused_total{reason="unsigned"}`` and the log.
  Mutation: ``load_secret`` returning None in auto (the old behaviour) makes the fake believed
  (no refusal counted, eu-west answered again) and the POST without token succeed.
* many processes creating the default at once all end with the same secret, none reads a
  half-written file, no temporary is left. Mutation: writing the final name directly
  (``open(path, "w")``) makes readers fail with ``not a hex secret``.
* a default readable by others stops a component at start, naming the file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab.auth import control_token, default_secret_path, read_secret
from lab.config import load_config
from lab.procs import free_port, wait_for
from lab.up import Lab, plan_lab
from tests.conftest import DNSLAB, REPO
from tests.integration.control_lab import (
    EU_CLIENT,
    REGIONS,
    Squatter,
    admin_json,
    checker_state,
    hp,
    lab_toml,
    metric,
    unsigned_all_up,
    wait_answer,
)

pytestmark = [pytest.mark.integration]

REFUSED = "dnslab_authoritative_health_feed_refused_total"
UP = "dnslab_authoritative_health_feed_up"


def post(url: str, body: dict[str, object], token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(req, timeout=3) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.slow
def test_by_hand_components_authenticate_and_refuse_an_unsigned_fake(tmp_path: Path) -> None:
    path = lab_toml(tmp_path)  # [control] empty: auth = "auto", no secret_file
    cfg = load_config(path)
    comps = plan_lab(cfg, path, control_port=free_port)  # files=None: no --secret-file at all
    assert not any("--secret-file" in c.argv for c in comps)
    lab = Lab(comps, tmp_path / "logs")
    with lab:
        lab.start()
        wait_for(lambda: metric(cfg, UP, checker="local") == 1, 20, "the feed is up")
        st = checker_state(cfg, "eu-west")
        assert st is not None and "proof ok" in (st["last_detail"] or ""), st
        wait_answer(cfg, EU_CLIENT, [REGIONS["eu-west"]], 15, "eu clients on eu-west")
        for name in ("authoritative", "healthcheck local", "region eu-west"):
            log = lab.child(name).log_path
            assert log is not None and "UNAUTHENTICATED" not in log.read_text(), name
        # the fault API: no token -> 401; the token of the default secret -> 200
        comp, _ = lab.region("eu-west")
        url = f"http://{comp.control}/v1/faults"
        assert post(url, {"fault": "down"}, None) == 401
        token = subprocess.run(
            [DNSLAB, "secret", "--token", "eu-west"],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        ).stdout.strip()
        assert token == control_token(read_secret(default_secret_path()), "eu-west")
        assert post(url, {"fault": "down"}, token) == 200
        wait_answer(cfg, EU_CLIENT, [REGIONS["us-east"]], 15, "eu clients moved to us-east")
        # the checker dies; a fake without the secret takes its address and says all is up
        lab.child("healthcheck local").kill(signal.SIGKILL)
        wait_for(lambda: metric(cfg, UP, checker="local") == 0, 10, "the feed is down")
        fake = Squatter(*hp(cfg.checkers[0].listen), unsigned_all_up())
        try:
            wait_for(
                lambda: (metric(cfg, REFUSED, checker="local", reason="unsigned") or 0) >= 2,
                15,
                "the unsigned fake stream refused twice",
            )
            assert fake.requests >= 2  # the server did connect to the fake
            assert metric(cfg, UP, checker="local") == 0
            assert admin_json(cfg, "/v1/health")["regions"]["eu-west"]["state"] == "down"
            wait_answer(cfg, EU_CLIENT, [REGIONS["us-east"]], 2, "eu clients still on us-east")
        finally:
            fake.close()
        log = lab.child("authoritative").log_path
        assert log is not None
        text = log.read_text()
        assert f"feed http://{cfg.checkers[0].listen}/v1/events: refused stream: unsigned" in text


RACER = """
import os, sys, time
from lab.auth import load_secret
go, ready = sys.argv[1], sys.argv[2]
open(os.path.join(ready, str(os.getpid())), "w").close()
while not os.path.exists(go):
    time.sleep(0.0005)
try:
    print(load_secret(None, None).hex())
except Exception as exc:
    print("ERROR", exc)
"""
RACERS = 12


def test_many_processes_make_one_default_secret(tmp_path: Path) -> None:
    """Rounds of processes released at once (each imported lab.auth and said ready, then waits
    for the go file) on a fresh XDG_STATE_HOME: every one prints the same secret, equal to the
    file's; nobody fails or reads a partial file; no temporary is left."""
    for round_ in range(3):
        state, go, ready = (tmp_path / f"{n}{round_}" for n in ("state", "go", "ready"))
        ready.mkdir()
        env = {**os.environ, "XDG_STATE_HOME": str(state), "PYTHONPATH": str(REPO)}
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", RACER, str(go), str(ready)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(RACERS)
        ]
        try:
            wait_for(lambda d=ready: len(list(d.iterdir())) == RACERS, 60, "every racer ready")
            go.touch()
            outs = [r.communicate(timeout=60)[0].strip() for r in racers]
        finally:
            for r in racers:
                if r.poll() is None:
                    r.kill()
                    r.wait()
        secret = state / "dnslab" / "secret"
        assert not [o for o in outs if o.startswith("ERROR")], outs
        assert set(outs) == {secret.read_text().strip()}, outs
        assert sorted(p.name for p in secret.parent.iterdir()) == ["secret"]
        assert secret.stat().st_mode & 0o777 == 0o600


def test_a_default_readable_by_others_stops_a_component_naming_it(tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    region = [DNSLAB, "region", "--name", "eu-west", "--listen", f"127.0.2.1:{free_port()}"]
    ok = subprocess.run(
        [DNSLAB, "secret"], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    secret = state / "dnslab" / "secret"
    assert ok.stdout.strip() == f"{secret} (default secret)"
    os.chmod(secret, 0o644)
    bad = subprocess.run(region, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0
    assert f"default secret {secret}: readable by other users (mode 644)" in bad.stderr
    check = subprocess.run(
        [DNSLAB, "check-config", "--config", str(REPO / "lab.toml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 1
    assert f"control: default secret {secret}: readable by other users" in check.stdout


def test_a_container_without_a_secret_stops_instead_of_making_its_own(tmp_path: Path) -> None:
    """In the dnslab image (DNSLAB_CONTAINER=1, Dockerfile) a component given no secret
    would make a per-container default that matches no other container: it stops, saying
    so, and makes nothing."""
    state = tmp_path / "state"
    env = {**os.environ, "XDG_STATE_HOME": str(state), "DNSLAB_CONTAINER": "1"}
    region = [DNSLAB, "region", "--name", "eu-west", "--listen", f"127.0.2.1:{free_port()}"]
    out = subprocess.run(region, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "dnslab region: no lab secret in a container (DNSLAB_CONTAINER is set)" in out.stderr
    assert not state.exists()
