from __future__ import annotations

import itertools
import tomllib
from pathlib import Path

from lab import config
from lab.drill.labgen import patch_config, service_key, to_toml
from lab.drill.scenario import CheckSpec
from tests.conftest import REPO


def base() -> dict[str, object]:
    return tomllib.loads((REPO / "lab.toml").read_text())


def test_patch_sets_ttl_checks_ports_and_absolute_paths() -> None:
    ports = itertools.count(20000)
    data = patch_config(
        base(),
        REPO,
        ttl=2,
        checks=CheckSpec(interval=0.2, fall=2, rise=1, timeout=0.1),
        port_for=lambda host: next(ports),
    )
    text = to_toml(data)
    assert tomllib.loads(text) == data
    cfg = config.parse_config(text, "gen.toml", "/nonexistent")
    www = cfg.services[service_key(data) or ""]
    assert (www.ttl, www.ttl_policy, www.ttl_ceiling) == (2, "fixed", 2)
    assert www.ttl_min <= 2
    assert (cfg.checks.interval, cfg.checks.fall, cfg.checks.rise) == (0.2, 2, 1)
    listens = [cfg.authoritative.listen, cfg.authoritative.admin_listen, cfg.resolver.listen]
    listens += [r.listen or "" for r in cfg.regions.values()] + [c.listen for c in cfg.checkers]
    assert all(int(hp.rpartition(":")[2]) >= 20000 for hp in listens)
    assert cfg.resolver.upstream == cfg.authoritative.listen
    assert cfg.check_url("eu-west") == f"http://{cfg.regions['eu-west'].listen}/healthz"
    assert cfg.regions["eu-west"].listen.startswith("127.0.2.1:")
    for path in cfg.authoritative.zones.values():
        assert Path(path).is_absolute() and Path(path).exists()


def test_patch_without_ports_keeps_addresses() -> None:
    data = patch_config(base(), REPO, ttl=7)
    auth = data["authoritative"]
    assert isinstance(auth, dict) and auth["listen"] == "127.0.0.1:5300"


def test_toml_writer_quotes_and_escapes() -> None:
    data = {"a": {"lab.example.": 'x "y"', "n": [1, 2.5, True]}, "t": [{"k": "v"}, {"k": "w"}]}
    assert tomllib.loads(to_toml(data)) == data


def test_scenario_resolver_knobs_replace_either_spelling() -> None:
    raw = base()
    raw["resolver"] = {"cache_min_ttl": 3, "listen": "127.0.0.1:5301"}
    data = patch_config(raw, REPO, resolver={"cache-min-ttl": 10, "serve-expired": True})
    res = data["resolver"]
    assert isinstance(res, dict)
    assert "cache_min_ttl" not in res and res["cache-min-ttl"] == 10
    cfg = config.parse_config(to_toml(data), "gen.toml", str(REPO))
    assert cfg.resolver.cache_min_ttl == 10 and cfg.resolver.serve_expired
