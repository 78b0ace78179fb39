from __future__ import annotations

import math

import pytest

from lab.drill.profiles import Plan, due, first_entry, parse_profile, plan, refresh_how, store


def test_parse_known_profiles() -> None:
    assert parse_profile("min-ttl:60").name == "min-ttl:60"
    assert parse_profile("fixed:30").life(5) == 30
    assert parse_profile("honours-ttl").upstream == "authoritative"
    assert parse_profile("shared-resolver").upstream == "resolver"
    assert not parse_profile("direct").caches


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("honours", "unknown client profile 'honours'; known: honours-ttl"),
        ("min-ttl", "needs seconds, e.g. 'min-ttl:60'"),
        ("min-ttl:abc", "needs seconds"),
        ("fixed:-1", ">= 0"),
        ("pinned:3", "takes no argument"),
    ],
)
def test_parse_errors_say_how_to_fix(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_profile(text)


def test_life_per_profile() -> None:
    assert parse_profile("honours-ttl").life(5) == 5
    assert parse_profile("min-ttl:60").life(5) == 60
    assert parse_profile("min-ttl:5").life(30) == 30
    assert parse_profile("fixed:30").life(300) == 30
    assert math.isinf(parse_profile("pinned").life(5))
    assert parse_profile("direct").life(5) == 0


def test_honours_ttl_uses_cache_until_expiry() -> None:
    prof = parse_profile("honours-ttl")
    assert plan(prof, None, 0.0) is Plan.RESOLVE
    entry = store(prof, ("127.0.2.1",), 5, now=10.0)
    assert entry.expires_at == 15.0
    assert plan(prof, entry, 14.99) is Plan.USE
    assert plan(prof, entry, 15.0) is Plan.RESOLVE


def test_pre_aged_entry_expires_early() -> None:
    entry = store(parse_profile("honours-ttl"), ("a",), 10, now=100.0, age=4.0)
    assert (entry.fetched_at, entry.expires_at) == (96.0, 106.0)
    # age never exceeds the life
    assert store(parse_profile("honours-ttl"), ("a",), 10, now=100.0, age=50).expires_at == 100.0


def test_pinned_never_reresolves() -> None:
    prof = parse_profile("pinned")
    entry = store(prof, ("a",), 1, now=0.0, age=0.5)
    assert plan(prof, entry, 1e9) is Plan.USE


def test_serve_stale_uses_stale_and_refreshes() -> None:
    prof = parse_profile("serve-stale")
    entry = store(prof, ("a",), 5, now=0.0)
    assert plan(prof, entry, 4.0) is Plan.USE
    assert plan(prof, entry, 6.0) is Plan.USE_AND_REFRESH
    assert plan(prof, entry, 5.0 + 31.0) is Plan.RESOLVE


def test_prefetch_refreshes_in_last_tenth() -> None:
    prof = parse_profile("prefetch")
    entry = store(prof, ("a",), 10, now=0.0)
    assert plan(prof, entry, 8.9) is Plan.USE
    assert plan(prof, entry, 9.1) is Plan.USE_AND_REFRESH
    assert plan(prof, entry, 10.0) is Plan.RESOLVE


def test_uncached_profiles_always_resolve() -> None:
    for name in ("direct", "shared-resolver"):
        prof = parse_profile(name)
        entry = store(prof, ("a",), 30, now=0.0)
        assert plan(prof, entry, 0.1) is Plan.RESOLVE


@pytest.mark.parametrize("name", ["honours-ttl", "prefetch", "serve-stale", "min-ttl:60", "pinned"])
def test_due_is_the_first_moment_plan_is_not_use(name: str) -> None:
    prof = parse_profile(name)
    entry = store(prof, ("127.0.2.1",), 30, 100.0)
    t = due(prof, entry)
    assert plan(prof, entry, t - 1e-6) is Plan.USE or t == float("inf")
    if t != float("inf"):
        assert plan(prof, entry, t) is not Plan.USE


def test_first_entry_is_pre_aged_and_refresh_how_names_stale_or_prefetch() -> None:
    e = first_entry(parse_profile("honours-ttl"), ("a",), 10, 100.0, 0.25)
    assert (e.fetched_at, e.expires_at) == (97.5, 107.5)
    pinned = first_entry(parse_profile("pinned"), ("a",), 10, 100.0, 0.25)
    assert pinned.fetched_at == 100.0
    assert refresh_how(e, 107.5) == "stale" and refresh_how(e, 107.0) == "prefetch"
