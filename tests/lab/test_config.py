"""lab.toml: the shipped default lab, unknown keys, dangling references, exact messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.config import LabConfig, load_config, parse_config
from lab.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

MINI = """
[authoritative.zones]
"lab.example." = "zones/lab.example.zone"
[regions.us-east]
listen = "127.0.1.1:8080"
v4 = ["127.0.1.1"]
[regions.eu-west]
listen = "127.0.2.1:8080"
v4 = ["127.0.2.1"]
[regions.ap-south]
listen = "127.0.3.1:8080"
v4 = ["127.0.3.1"]
[locations]
na = ["127.1.0.0/16"]
eu = ["127.2.0.0/16"]
[services.www]
name = "www.lab.example"
[services.www.order]
na = ["us-east", "eu-west"]
eu = ["eu-west", "us-east"]
"""


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as exc:
        parse_config(text)
    return str(exc.value)


def test_shipped_lab_toml_is_the_default_lab() -> None:
    cfg = load_config(REPO / "lab.toml")
    assert {n: r.v4 for n, r in cfg.regions.items()} == {
        "us-east": ("127.0.1.1",),
        "eu-west": ("127.0.2.1",),
        "ap-south": ("127.0.3.1",),
    }
    assert cfg.check_url("eu-west") == "http://127.0.2.1:8080/healthz"
    assert {n: loc.nets for n, loc in cfg.locations.items()} == {
        "na": ("127.1.0.0/16",),
        "eu": ("127.2.0.0/16",),
        "ap": ("127.3.0.0/16",),
    }
    www = cfg.services["www"]
    assert www.name == "www.lab.example." and www.policy == "geo-failover"
    assert www.order["eu"] == ("eu-west", "us-east", "ap-south")
    assert www.order["ap"] == ("ap-south", "eu-west", "us-east")
    assert cfg.authoritative.listen == "127.0.0.1:5300"
    assert cfg.authoritative.admin_listen == "127.0.0.1:8053"
    assert cfg.path(cfg.authoritative.zones["lab.example."]).is_file()


def test_minimal_config_and_name_normalisation() -> None:
    cfg = parse_config(MINI)
    assert cfg.services["www"].name == "www.lab.example."
    assert cfg.service_by_name("WWW.lab.example") == ("www", cfg.services["www"])
    assert cfg.services["www"].ttl_ceiling == 30


def test_unknown_region_names_file_path_and_known() -> None:
    msg = error_of(MINI.replace('eu = ["eu-west", "us-east"]', 'eu = ["eu-west", "eu-wst"]'))
    assert msg == (
        "lab.toml: services.www.order.eu[1]: unknown region 'eu-wst' "
        "(known: us-east, eu-west, ap-south)"
    )


def test_unknown_location_and_missing_order() -> None:
    msg = error_of(MINI.replace('eu = ["eu-west", "us-east"]', 'europe = ["eu-west"]'))
    assert "services.www.order.europe: unknown location 'europe' (known: na, eu" in msg
    assert "services.www.order: no order for location(s) eu" in msg


def test_unknown_key_lists_allowed_keys() -> None:
    msg = error_of(MINI + "\n[checks]\nintervall = 3\n")
    assert msg.startswith("lab.toml: checks.intervall: unknown key 'intervall' (allowed: kind, ")
    msg = error_of("colour = 1\n")
    assert "colour: unknown key 'colour' (allowed: authoritative, control, checkers" in msg


def test_bad_values_name_the_index() -> None:
    assert "regions.a.v4[1]: not an IPv4 address" in error_of(
        '[regions.a]\nlisten = "1.1.1.1:80"\nv4 = ["1.2.3.4", "1.2.3.400"]'
    )
    assert "locations.eu.nets[0]: not a network" in error_of('[locations]\neu = ["10.0.0.1/8"]')
    assert "authoritative.listen: expected HOST:PORT" in error_of('[authoritative]\nlisten = "x"')
    assert "authoritative.assume: Input should be 'up' or 'down'" in error_of(
        '[authoritative]\nassume = "maybe"'
    )
    assert "regions.a.v4: Input should be a list [...] (got '1.2.3.4')" in error_of(
        '[regions.a]\nlisten = "1.1.1.1:80"\nv4 = "1.2.3.4"'
    )
    assert "locations: Input should be a table" in error_of('locations = "eu"')
    for key in ("cache_max_ttl", "cache-max-ttl"):  # aliased fields ([resolver]) too
        msg = error_of(f"[resolver]\n{key} = -1")
        assert "resolver.cache-max-ttl: Input should be greater than or equal to 0" in msg


def test_region_needs_an_answer_and_not_both() -> None:
    assert "regions.a: a region needs v4" in error_of('[regions.a]\nlisten = "1.1.1.1:80"')
    assert "not both" in error_of('[regions.a]\nv4 = ["1.1.1.1"]\ncname = "x.example."')


def test_policy_fields_must_match_the_policy() -> None:
    text = MINI + '\n[services.api]\nname = "api.lab.example."\npolicy = "weighted"\n'
    text += 'regions = ["us-east"]\nweights = { us-east = 1, mars = 2 }\n'
    msg = error_of(text)
    assert "services.api.regions: not used by policy 'weighted' (it reads 'weights')" in msg
    assert "services.api.weights.mars: unknown region 'mars'" in msg


def test_service_outside_zones_and_duplicate_names() -> None:
    text = MINI + '\n[services.w2]\nname = "www.other.example."\npolicy = "failover"\n'
    text += 'regions = ["us-east"]\n'
    assert "services.w2.name: 'www.other.example.' is not inside any zone" in error_of(text)
    text = MINI + '\n[services.w2]\nname = "www.lab.example."\npolicy = "failover"\n'
    text += 'regions = ["us-east"]\n'
    assert "services.w2.name: 'www.lab.example.' is also services.www" in error_of(text)


def test_checkers_and_quorum() -> None:
    text = MINI + '\n[authoritative]\nquorum = 3\n[[checkers]]\nname = "a"\nlocation = "mars"\n'
    msg = error_of(text.replace("[authoritative.zones]", "[authoritative.zones]", 1))
    assert "checkers[0].location: unknown location 'mars'" in msg
    assert "authoritative.quorum: 3 of 1 checkers can never be reached" in msg


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    assert error_of("[a\n").startswith("lab.toml: not valid TOML:")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.toml")


def test_relative_paths_resolve_from_the_file(tmp_path: Path) -> None:
    (tmp_path / "lab.toml").write_text(MINI)
    cfg = load_config(tmp_path / "lab.toml")
    assert cfg.path("zones/x.zone") == tmp_path / "zones/x.zone"
    assert cfg.source == str(tmp_path / "lab.toml")


def test_defaults_validate() -> None:
    cfg = LabConfig()
    assert cfg.checkers[0].name == "local" and cfg.authoritative.assume == "up"


def test_docs_config_examples_validate() -> None:
    import re

    text = (REPO / "docs/config.md").read_text()
    examples = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert examples
    for example in examples:
        cfg = parse_config(example, "docs/config.md", str(REPO))
        assert cfg.services
