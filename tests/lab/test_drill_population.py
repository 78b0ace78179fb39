from __future__ import annotations

import ipaddress

import pytest

from lab.drill.population import apportion, build_population, probe_addr, stratified
from lab.errors import ConfigError

NETS = {
    "na": ipaddress.IPv4Network("127.1.0.0/16"),
    "eu": ipaddress.IPv4Network("127.2.0.0/16"),
}


def test_apportion_sums_and_follows_weights() -> None:
    assert apportion(10, {"a": 1, "b": 1}) == {"a": 5, "b": 5}
    assert apportion(7, {"a": 0.5, "b": 0.3, "c": 0.2}) == {"a": 4, "b": 2, "c": 1}
    assert sum(apportion(101, {"a": 3, "b": 3, "c": 1}).values()) == 101


def test_population_is_deterministic_and_in_location_nets() -> None:
    args = (40, {"na": 1, "eu": 3}, {"honours-ttl": 1, "pinned": 1}, NETS, 0.2, 7)
    a, b = build_population(*args), build_population(*args)
    assert a == b
    assert [c.id for c in a] == list(range(40))
    assert sum(c.location == "eu" for c in a) == 30
    for c in a:
        assert ipaddress.IPv4Address(c.addr) in NETS[c.location]
        assert 0 <= c.start_offset < 0.2 and 0 <= c.age_fraction < 1
    assert len({c.addr for c in a}) == 40
    eu = [c for c in a if c.location == "eu"]
    assert sum(c.profile.kind == "pinned" for c in eu) == 15


def test_unknown_location_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\['ap'\] are not in the lab config"):
        build_population(5, {"ap": 1}, {"direct": 1}, NETS, 0.2, 1)


def test_probe_addr_is_outside_client_range() -> None:
    assert probe_addr(NETS["na"]) == "127.1.255.254"


def test_stratified_covers_every_stratum() -> None:
    import random

    values = stratified(10, random.Random(1))
    assert sorted(int(v * 10) for v in values) == list(range(10))
    assert values != sorted(values)
