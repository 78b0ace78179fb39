from __future__ import annotations

from lab.drill.explain import client_windows, explain
from lab.drill.measure import Observation, requests, stale_windows
from lab.drill.population import Client
from lab.drill.profiles import parse_profile
from lab.drill.scenario import load_scenario
from lab.drill.sim import simulate


def client(profile: str, age: float = 0.5) -> Client:
    return Client(7, "eu", "127.2.0.17", parse_profile(profile), 0.0, age)


def res(t: float, region: str, ttl: int) -> Observation:
    return Observation(t, 7, "resolve", f"a-{region}", region, ttl, True, "authoritative")


def test_cache_outliving_the_change() -> None:
    obs = [res(0.0, "eu", 5), res(8.0, "eu", 5)]
    why = explain(client("min-ttl:10"), obs, "eu", 10.0, 11.5, 7.9, False)
    assert "resolved before the fault at -2.00s (TTL 5s kept 10s by min-ttl:10)" in why
    assert "last sent there at +7.90s" in why and "changed at +1.50s" in why


def test_first_answer_is_pre_aged_and_re_resolution_before_change() -> None:
    why = explain(client("honours-ttl", 0.4), [res(1.0, "eu", 5)], "eu", 4.0, None, 2.0, True)
    assert "cached as if 2.0s old" in why and "never changed" in why and "end of the run" in why
    obs = [res(0.0, "eu", 5), res(10.5, "eu", 5)]
    why = explain(client("honours-ttl"), obs, "eu", 10.0, 11.5, 5.4, False)
    assert "re-resolved after the fault but before the answer changed" in why


def test_uncached_and_pinned_profiles() -> None:
    obs = [res(0.0, "eu", 5), res(11.4, "eu", 5)]
    why = explain(client("direct"), obs, "eu", 10.0, 11.5, 1.4, False)
    assert why.startswith(
        "asks on every request; the authoritative server answered eu until +1.40s"
    )
    why = explain(client("pinned"), obs[:1], "eu", 10.0, 11.5, 20.0, True)
    assert why == "pinned: resolved eu once at -10.00s and never again"
    assert "already went elsewhere" in explain(client("direct"), [], "eu", 10.0, 11.5, 0.0, False)


def test_client_windows_are_sorted_longest_first() -> None:
    rec = simulate(load_scenario(None), 5)
    assert rec.fault_at is not None
    w = stale_windows(requests(rec.observations), "eu-west", rec.fault_at)
    cws = client_windows(
        rec.clients, rec.observations, w, "eu-west", rec.fault_at, rec.propagated_at
    )
    assert len(cws) == len(w.affected)
    assert [c.window_s for c in cws] == sorted((c.window_s for c in cws), reverse=True)
    assert cws[0].profile == "pinned" and cws[0].censored


def test_serve_stale_last_use_is_named() -> None:
    obs = [
        res(0.0, "eu", 5),
        Observation(15.5, 7, "request", "a-eu", "eu", 5, False, "stale: connection refused"),
    ]
    why = explain(client("serve-stale"), obs, "eu", 10.0, 11.5, 5.5, False)
    assert "last used stale while it refreshed" in why
