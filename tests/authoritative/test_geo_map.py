"""Client location: longest prefix, ECS truncation, scope never wider than the answer holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from authoritative.geo import Client, GeoMap

LAB = {"na": ("127.1.0.0/16",), "eu": ("127.2.0.0/16",), "ap": ("127.3.0.0/16",)}


def where(m: GeoMap, client: Client) -> tuple[str | None, str | None, int]:
    loc = m.locate(client)
    return loc.location, loc.net, loc.scope


def test_default_lab_by_source_address() -> None:
    m = GeoMap(LAB)
    assert where(m, Client.from_source("127.1.2.3")) == ("na", "127.1.0.0/16", 16)
    assert where(m, Client.from_source("127.2.0.9")) == ("eu", "127.2.0.0/16", 16)
    assert where(m, Client.from_source("127.3.255.255")) == ("ap", "127.3.0.0/16", 16)


def test_unmatched_client_scope_is_the_widest_block_without_any_network() -> None:
    m = GeoMap(LAB)
    # 127.0.0.0/16 holds no network; 127.0.0.0/15 would include na's 127.1/16
    assert where(m, Client.from_source("127.0.0.1")) == (None, None, 16)
    # 0.0.0.0/1 contains 127/8; 0.0.0.0/2 (0-63.x) is the first block without networks
    assert where(m, Client.from_source("10.0.0.1")) == (None, None, 2)
    assert where(m, Client.from_source("::1")) == (None, None, 0)  # no v6 networks at all


def test_longest_prefix_wins_and_scope_narrows_around_a_hole() -> None:
    m = GeoMap({"eu": ("10.0.0.0/8",), "na": ("10.1.0.0/16",)})
    assert where(m, Client.from_source("10.1.2.3")) == ("na", "10.1.0.0/16", 16)
    # 10.2.x is eu by the /8, but the /8 also holds na's /16: the answer only holds for the /15
    assert where(m, Client.from_source("10.2.0.1")) == ("eu", "10.0.0.0/8", 15)
    assert where(m, Client.from_source("10.200.0.1")) == ("eu", "10.0.0.0/8", 9)


def test_scope_widens_when_neighbours_agree() -> None:
    m = GeoMap({"na": ("10.0.0.0/9", "10.128.0.0/9"), "eu": ("11.0.0.0/8",)})
    assert where(m, Client.from_source("10.1.1.1")) == ("na", "10.0.0.0/9", 8)


def test_ecs_subnet_is_truncated_to_its_source_prefix() -> None:
    m = GeoMap(LAB)
    c = Client.from_ecs("127.2.99.77", 24)
    assert str(c.address) == "127.2.99.0" and c.via == "ecs"
    assert where(m, c) == ("eu", "127.2.0.0/16", 16)
    # a /8 source prefix cannot say which location: the answer needs a longer scope
    assert where(m, Client.from_ecs("127.2.0.0", 8)) == (None, None, 16)


def test_ipv6_networks() -> None:
    m = GeoMap({"eu": ("2001:db8:2::/48",)})
    assert where(m, Client.from_source("2001:db8:2::5")) == ("eu", "2001:db8:2::/48", 48)
    assert where(m, Client.from_source("127.2.0.1")) == (None, None, 0)


def test_geoip_database_is_asked_only_when_no_network_matches() -> None:
    asked: list[str] = []

    def lookup(addr: str) -> tuple[Any, int]:
        asked.append(addr)
        if addr.startswith("81."):
            return {"continent": {"code": "EU"}, "country": {"iso_code": "DE"}}, 12
        return None, 8

    m = GeoMap({"na": ("127.1.0.0/16",)}, {"eu": ("continent:EU",), "de": ("country:DE",)}, lookup)
    loc = m.locate(Client.from_source("81.2.3.4"))
    assert (loc.location, loc.scope) == ("de", 12)  # country is more specific than continent
    assert loc.net is not None and "81.0.0.0/12" in loc.net
    assert where(m, Client.from_source("127.1.0.1")) == ("na", "127.1.0.0/16", 16)
    assert asked == ["81.2.3.4"]
    assert where(m, Client.from_source("8.8.8.8"))[0] is None


def test_a_real_mmdb_file_read_with_maxminddb(tmp_path: Path) -> None:
    from authoritative.geo import open_maxmind
    from tests.authoritative.mmdb_writer import write_mmdb

    db = tmp_path / "test.mmdb"
    db.write_bytes(
        write_mmdb(
            {
                "81.0.0.0/12": {"continent": {"code": "EU"}, "country": {"iso_code": "DE"}},
                "82.0.0.0/8": {"continent": {"code": "EU"}, "country": {"iso_code": "FR"}},
                "8.0.0.0/8": {"continent": {"code": "NA"}, "country": {"iso_code": "US"}},
            }
        )
    )
    m = GeoMap(
        {"ap": ("127.3.0.0/16",)},
        {"de": ("country:DE",), "eu": ("continent:EU",), "na": ("continent:NA",)},
        open_maxmind(str(db)),
    )
    loc = m.locate(Client.from_source("81.2.3.4"))
    assert (loc.location, loc.scope) == ("de", 12)
    assert where(m, Client.from_source("82.9.9.9"))[0::2] == ("eu", 8)  # continent fallback
    assert where(m, Client.from_ecs("8.8.8.0", 24))[0::2] == ("na", 8)
    assert where(m, Client.from_source("127.3.0.1")) == ("ap", "127.3.0.0/16", 16)
    assert where(m, Client.from_source("1.1.1.1"))[0] is None


def test_mmdb_from_config_and_a_missing_file(tmp_path: Path) -> None:
    import pytest

    from authoritative.geo import geomap_from_config
    from lab.config import parse_config
    from lab.errors import ConfigError
    from tests.authoritative.mmdb_writer import write_mmdb

    (tmp_path / "geo.mmdb").write_bytes(write_mmdb({"81.0.0.0/12": {"continent": {"code": "EU"}}}))
    text = '[geoip]\nmmdb = "geo.mmdb"\n[locations.eu]\ngeoip = ["continent:eu"]\n'
    cfg = parse_config(text, "lab.toml", str(tmp_path))
    assert geomap_from_config(cfg).locate(Client.from_source("81.1.1.1")).location == "eu"
    missing = parse_config(text.replace("geo.mmdb", "nope.mmdb"), "lab.toml", str(tmp_path))
    with pytest.raises(ConfigError, match=r"geoip\.mmdb: cannot open"):
        geomap_from_config(missing)
    with pytest.raises(ConfigError, match=r"locations.eu.geoip: needs \[geoip\] mmdb"):
        parse_config('[locations.eu]\ngeoip = ["continent:EU"]\n')


@pytest.mark.slow
def test_scope_is_always_safe_against_brute_force() -> None:
    """Random maps inside 10.0.0.0/24: the location is the longest match, and every address of
    the block the scope describes gets the same location (the scope is never too wide)."""
    import ipaddress
    import random

    rng = random.Random(7)
    for _ in range(60):
        nets: dict[str, tuple[str, ...]] = {}
        owners: dict[str, str] = {}
        for _ in range(rng.randint(1, 8)):
            prefix = rng.randint(24, 31)
            net = ipaddress.ip_network((0x0A000000 + rng.randrange(256), prefix), strict=False)
            owners.setdefault(str(net), rng.choice("abc"))
        for net, loc in owners.items():
            nets[loc] = (*nets.get(loc, ()), net)
        m = GeoMap(nets)
        parsed = [(ipaddress.ip_network(n), loc) for n, loc in owners.items()]

        def brute(a: int, parsed: list[tuple[ipaddress.IPv4Network, str]] = parsed) -> str | None:
            addr = ipaddress.IPv4Address(a)
            best = max(
                (n for n in parsed if addr in n[0]), key=lambda n: n[0].prefixlen, default=None
            )
            return None if best is None else best[1]

        for a in range(0x0A000000, 0x0A000100, 7):
            got = m.locate(Client(ipaddress.IPv4Address(a)))
            assert got.location == brute(a)
            assert got.scope >= 24
            block = ipaddress.ip_network((a, got.scope), strict=False)
            assert {brute(int(x)) for x in block} == {got.location}
