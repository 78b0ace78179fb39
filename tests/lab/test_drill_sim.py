"""The simulation drives the whole measurement pipeline deterministically on virtual time."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lab.drill import events as ev
from lab.drill import model
from lab.drill.measure import requests, stale_windows
from lab.drill.plots import write_plots
from lab.drill.report import render_report, render_summary
from lab.drill.results import document, summarise, write_json, write_observations
from lab.drill.scenario import SCENARIO_DIR, load_scenario, parse_scenario
from lab.drill.sim import simulate
from tests.conftest import REPO

HONOURS = """
clients = {clients}
request_interval = 0.1
max_duration = 200
seed = {seed}
ttls = [{ttl}]
[locations]
eu = 1
[profiles]
"honours-ttl" = 1
[checks]
interval = 0.5
fall = 3
[[faults]]
at = {at}
action = "kill"
"""


def test_same_seed_same_record() -> None:
    sc = load_scenario(None)
    a, b = simulate(sc, 5), simulate(sc, 5)
    assert a.observations == b.observations and a.detected_at == b.detected_at


def test_busiest_region_is_killed_and_detected_in_model_bounds() -> None:
    sc = load_scenario(None)
    rec = simulate(sc, 5)
    assert rec.dead_region == "eu-west"  # eu holds half the clients
    assert rec.fault_at is not None and rec.detected_at is not None
    det = rec.detected_at - rec.fault_at
    assert (sc.checks.fall - 1) * sc.checks.interval <= det <= sc.checks.fall * sc.checks.interval


@pytest.mark.slow
@pytest.mark.parametrize("ttl", [2, 5, 30])
def test_honours_ttl_matches_model(ttl: int) -> None:
    """Averaged over seeds (each a new checker phase), the simulated mean and max agree.

    The propagation delay is this test's own (0.4 s), not the sim's default
    PROPAGATION_GUESS_S that the model would share. Mutation: the sim pushing the answer change
    at `decided + model.PROPAGATION_GUESS_S` instead of its `propagation` argument.
    """
    propagation = 0.4
    check = model.CheckParams(0.5, 3, 0.25)
    pred = model.window(check, propagation, ttl)  # a kill: no probe latency, so tau = propagation
    assert pred.mean_s is not None and pred.max_s is not None
    means = []
    for seed in range(6):
        sc = parse_scenario(HONOURS.format(clients=120, seed=seed, ttl=ttl, at=2))
        rec = simulate(sc, ttl, propagation=propagation)
        assert rec.fault_at is not None and rec.dead_region == "eu-west"
        w = stale_windows(requests(rec.observations), "eu-west", rec.fault_at)
        assert len(w.affected) == 120 and not w.censored
        assert max(w.affected.values()) <= pred.max_s + 1e-9
        means.append(sum(w.affected.values()) / len(w.affected))
    # measured windows end at the last request, up to one request interval before expiry
    assert sum(means) / len(means) == pytest.approx(pred.mean_s - 0.05, rel=0.05)


def _lab_toml(tmp_path: Path, edit: Callable[[str], str]) -> Path:
    text = (REPO / "lab.toml").read_text()
    out = tmp_path / "lab.toml"
    out.write_text(edit(text).replace('"zones/', f'"{REPO}/zones/'))
    return out


def test_the_geography_is_lab_toml_decided_by_the_server_code(tmp_path: Path) -> None:
    """Reorder eu in lab.toml: the sim's eu clients follow it (no geography of its own)."""
    cfg = _lab_toml(
        tmp_path,
        lambda t: t.replace(
            'eu = ["eu-west", "us-east", "ap-south"]', 'eu = ["ap-south", "us-east", "eu-west"]'
        ),
    )
    sc = parse_scenario(HONOURS.format(clients=20, seed=1, ttl=5, at=2))
    rec = simulate(sc, 5, config=cfg)
    assert rec.dead_region == "ap-south"  # busiest: every eu client is sent there now
    after = [o for o in requests(rec.observations) if o.t > rec.end - 1.0]
    assert after and {o.region for o in after} == {"us-east"}  # the next in eu's order


def test_all_down_servfail_reaches_the_clients(tmp_path: Path) -> None:
    """all_down = "servfail" and every region killed: clients get DNS failures, not answers."""
    cfg = _lab_toml(
        tmp_path, lambda t: t.replace('all_down = "fail-open"', 'all_down = "servfail"')
    )
    text = HONOURS.format(clients=10, seed=1, ttl=2, at=2) + "".join(
        f'[[faults]]\nat = 2.0\naction = "kill"\nregion = "{r}"\n' for r in ("us-east", "ap-south")
    )
    rec = simulate(parse_scenario(text), 2, config=cfg)
    late = [o for o in rec.observations if o.kind == "resolve" and o.t > rec.end - 1.0]
    assert late and all(not o.ok and o.detail == "rcode 2" for o in late)


@pytest.mark.slow
def test_outputs_from_a_simulated_drill(tmp_path: Path) -> None:
    sc = load_scenario(None)
    records = [simulate(sc, ttl) for ttl in sc.ttls]
    runs = [summarise(r) for r in records]
    doc = document("scenarios/default.toml", sc.model_dump(), runs, "2026-01-01T00:00:00Z")
    write_json(tmp_path / "results.json", doc)
    loaded = json.loads((tmp_path / "results.json").read_text())
    run = loaded["runs"][0]
    for key in ("ttl", "detection_s", "propagation_s", "failed_requests", "by_profile"):
        assert key in run
    assert set(run["stale_window_s"]) >= {"p50", "p90", "p99", "max", "mean"}
    assert set(run["model"]) >= {"mean_s", "max_s"}
    assert run["by_profile"]["pinned"]["model"] == {"mean_s": None, "max_s": None}
    assert run["by_profile"]["pinned"]["censored"] > 0
    assert run["failed_requests"] > 0
    rows = write_observations(tmp_path / "observations.csv", records)
    lines = (tmp_path / "observations.csv").read_text().splitlines()
    assert len(lines) == rows + 1 and lines[0].startswith("ttl,t,t_since_fault,client")
    table = render_summary(runs)
    assert "TTL" in table and "honours-ttl" in table and "eu-west" in table
    plots = write_plots(tmp_path, records, runs)
    for name in plots:
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    report = render_report(loaded, plots)
    assert "# Drill report: kill-busiest" in report and "![dead_share.png]" in report


def test_restart_ends_windows_and_brings_clients_back() -> None:
    sc = load_scenario(SCENARIO_DIR / "flap-restart.toml")
    rec = simulate(sc, sc.ttls[0])
    assert rec.dead_region == "eu-west" and rec.recovered_at == pytest.approx(11.0)
    reqs = requests(rec.observations)
    assert rec.fault_at is not None
    w = stale_windows(reqs, "eu-west", rec.fault_at, rec.recovered_at)
    assert w.affected and max(w.affected.values()) < rec.recovered_at - rec.fault_at
    assert not w.censored
    # after rise successes and a TTL, eu clients are back on eu-west
    late = [o for o in reqs if o.t > rec.end - 1.0 and o.region == "eu-west"]
    assert late and all(o.ok for o in late)
    assert any("eu-west up" in text for _, text in rec.events)


def test_hang_detection_includes_probe_timeout() -> None:
    sc = load_scenario(SCENARIO_DIR / "hang.toml")
    rec = simulate(sc, 5)
    assert rec.fault_at is not None and rec.detected_at is not None
    det = rec.detected_at - rec.fault_at
    lo = (sc.checks.fall - 1) * sc.checks.interval + sc.checks.timeout
    assert lo <= det <= sc.checks.fall * sc.checks.interval + sc.checks.timeout


def test_shared_resolver_clients_share_one_expiry() -> None:
    text = HONOURS.format(clients=30, seed=2, ttl=5, at=3).replace(
        '"honours-ttl" = 1', '"shared-resolver" = 1'
    )
    sc = parse_scenario(text)
    rec = simulate(sc, 5)
    assert rec.fault_at is not None
    w = stale_windows(requests(rec.observations), "eu-west", rec.fault_at)
    values = sorted(w.affected.values())
    assert len(values) == 30
    # one resolver cache entry (one /24) serves all of them: they move within one request interval
    assert values[-1] - values[0] <= sc.request_interval + 1e-9
    pred = model.predict(rec.clients[0].profile, 5, model.CheckParams(0.5, 3, 0.25), 0.1, 0.05)
    assert pred.max_s is not None and values[-1] <= pred.max_s
    resolved = [o for o in rec.observations if o.kind == "resolve"]
    assert resolved and all(o.detail == "resolver" for o in resolved)


def test_resolver_min_ttl_clamp_reaches_the_clients_and_the_model() -> None:
    from lab.drill.results import summarise
    from resolver.settings import ResolverSettings

    text = HONOURS.format(clients=20, seed=1, ttl=2, at=3).replace(
        '"honours-ttl" = 1', '"shared-resolver" = 1'
    )
    sc = parse_scenario(text)
    settings = ResolverSettings.model_validate({"cache_min_ttl": 10})
    rec = simulate(sc, 2, resolver=settings)
    run = summarise(rec)
    prof = run["by_profile"]["shared-resolver"]
    assert prof["model"]["max_s"] == pytest.approx(1.5 + 0.05 + 10)
    assert prof["stale_window_s"]["max"] > 2 * 1.5 + 2  # far beyond what TTL 2 allows
    assert prof["stale_window_s"]["max"] <= prof["model"]["max_s"]


def test_dynamic_ttl_policy_is_the_servers_rule(tmp_path: Path) -> None:
    """ttl_policy = dynamic: answers carry the time until the deciding region could change,
    clamped to [ttl_min, TTL] (authoritative.ttl), so clients see TTLs below the ceiling."""
    sc = parse_scenario(HONOURS.format(clients=30, seed=3, ttl=30, at=5))
    rec = simulate(sc, 30, ttl_policy="dynamic")
    ttls = {o.ttl for o in rec.observations if o.kind == "resolve" and o.ttl is not None}
    assert ttls and max(ttls) <= 30 and min(ttls) >= 1
    assert ttls != {30}, "a dynamic TTL follows the health state, not the ceiling"
    fixed = simulate(sc, 30)
    assert {o.ttl for o in fixed.observations if o.kind == "resolve"} == {30}


def test_quorum_of_two_vantage_points_is_the_servers_rule(tmp_path: Path) -> None:
    """Two checkers: with quorum "any" one checker saying up keeps the region up, so the
    answer changes only when both saw the kill; with "all" the first one decides."""
    second = '[[checkers]]\nname = "eu-probe"\nlisten = "127.0.0.1:8055"\nlocation = "eu"\n'

    def lab(quorum: str) -> Path:
        return _lab_toml(
            tmp_path / quorum,
            lambda t: t.replace('quorum = "majority"', f'quorum = "{quorum}"').replace(
                "[checks]", second + "\n[checks]"
            ),
        )

    (tmp_path / "any").mkdir()
    (tmp_path / "all").mkdir()
    sc = parse_scenario(HONOURS.format(clients=20, seed=2, ttl=2, at=3))
    anyq = simulate(sc, 2, config=lab("any"))
    allq = simulate(sc, 2, config=lab("all"))
    assert anyq.propagated_at is not None and allq.propagated_at is not None
    assert anyq.propagated_at > allq.propagated_at  # same probe phases: "any" waits for both
    downs = [t for t, text in anyq.events if "eu-west down" in text]
    assert len(downs) == 2 and anyq.propagated_at >= max(downs)


FAULT = """
clients = 20
request_interval = 0.2
seed = 1
ttls = [5]
[locations]
eu = 1
[profiles]
"honours-ttl" = 1
[checks]
interval = 0.5
fall = 3
timeout = 0.25
[[faults]]
at = 2.0
action = "fault"
region = "eu-west"
fault = "{fault}"
params = {params}
"""


def test_each_fault_acts_as_the_region_would() -> None:
    """Not every fault is a refused connection: healthz-only fails the checks but serves the
    traffic; error-rate fails its share of requests with the status; slow under the probe
    timeout is no failure at all."""
    lying = simulate(parse_scenario(FAULT.format(fault="healthz-only", params="{}")), 5)
    assert lying.detected_at is not None  # the checker believes /healthz
    after = [o for o in requests(lying.observations) if o.t >= 2.0]
    assert after and all(o.ok for o in after)  # ... while every request to eu-west succeeded
    errors = simulate(parse_scenario(FAULT.format(fault="error-rate", params="{ rate = 1.0 }")), 5)
    failed = [o for o in requests(errors.observations) if o.t >= 2.0 and not o.ok]
    assert failed and all(o.detail.endswith("status 503") for o in failed)
    slow = simulate(parse_scenario(FAULT.format(fault="slow", params="{ ms = 100 }")), 5)
    assert slow.detected_at is None
    assert all(o.ok for o in requests(slow.observations))


@pytest.mark.parametrize(
    ("second", "why"),
    [
        ('action = "kill"', "not running"),
        ('action = "fault"\nfault = "hang"', "control API refuses"),
    ],
)
def test_a_step_on_a_killed_region_fails_the_run(second: str, why: str) -> None:
    """As live (no process to kill, no control API to POST to): InjectionFailed, run failed."""
    sc = parse_scenario(
        'ttls = [5]\nclients = 10\n[locations]\neu = 1\n[profiles]\n"honours-ttl" = 1\n'
        '[[faults]]\nat = 2.0\naction = "kill"\nregion = "eu-west"\n'
        f'[[faults]]\nat = 3.0\nregion = "eu-west"\n{second}\n'
    )
    log = ev.EventLog()
    record = simulate(sc, 5, sinks=[log])
    assert record.dead_region == "eu-west" and record.fault_at == pytest.approx(2.0)
    assert len(record.failures) == 1 and why in record.failures[0], record.failures
    failed = [e for e in log.events if isinstance(e, ev.InjectionFailed)]
    assert [(e.at, e.region) for e in failed] == [(3.0, "eu-west")]
    run = summarise(record)
    assert run["failed"] is True
    # the first fault did happen: the note says the timeline was not followed, not "no outage"
    assert "did not run as written" in run["notes"][0], run["notes"]


def test_a_fault_with_a_duration_ends_the_windows_when_it_expires() -> None:
    """A 1 s `down` (shorter than detection, F·I = 1.5 s): the region is healthy again after
    1 s, so no window outlasts it (they ran to the end of the run before)."""
    sc = parse_scenario(
        "ttls = [5]\nclients = 20\nrequest_interval = 0.1\n[locations]\neu = 1\n"
        '[profiles]\n"honours-ttl" = 1\n[checks]\ninterval = 0.5\nfall = 3\n'
        '[[faults]]\nat = 2.0\naction = "fault"\nregion = "eu-west"\nfault = "down"\n'
        "params = { duration = 1.0 }\n"
    )
    record = simulate(sc, 5)
    assert record.fault_at == pytest.approx(2.0)
    assert record.recovered_at == pytest.approx(3.0)
    run = summarise(record)
    assert run["clients_affected"] == 20 and run["detection_s"] is None
    assert 0.8 <= run["stale_window_s"]["max"] <= 1.0, run["stale_window_s"]
