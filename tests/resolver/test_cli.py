"""`dnslab resolver` option loading: lab.toml [resolver], then --option, then address flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.cli import build_parser
from lab.errors import ConfigError
from resolver.cli import load_settings


def test_precedence_toml_then_options_then_flags(tmp_path: Path) -> None:
    toml = tmp_path / "lab.toml"
    toml.write_text('[resolver]\nprefetch = true\ncache-min-ttl = 5\nlisten = "127.0.0.1:1111"\n')
    s = load_settings(
        toml,
        {"listen": "127.0.0.1:2222", "upstream": None},
        ["cache-min-ttl=7", "serve-expired=yes", "like=bind"],
    )
    assert s.prefetch and s.cache_min_ttl == 7 and s.serve_expired
    assert s.listen == "127.0.0.1:2222" and s.upstream == "127.0.0.1:5300"
    assert s.prefetch_trigger == 2  # from like=bind


def test_errors_name_the_source_and_field(tmp_path: Path) -> None:
    toml = tmp_path / "lab.toml"
    toml.write_text("[resolver]\ncache-max-ttl = -1\n")
    with pytest.raises(
        ConfigError, match=r"lab.toml: resolver.cache-max-ttl: Input should be greater"
    ):
        load_settings(toml, {}, [])
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        load_settings(None, {}, ["prefetch"])
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml", {}, [])


def test_subcommand_is_registered_with_the_contract_flags() -> None:
    args = build_parser().parse_args(
        [
            "resolver",
            "--upstream",
            "127.0.0.1:5300",
            "--listen",
            "127.0.0.1:5301",
            "--config",
            "lab.toml",
            "--metrics",
            "127.0.0.1:9301",
            "-o",
            "prefetch=yes",
        ]
    )
    assert args.upstream == "127.0.0.1:5300" and args.metrics == "127.0.0.1:9301"
    assert args.option == ["prefetch=yes"] and callable(args.handler)


def test_print_settings_round_trips(capsys: pytest.CaptureFixture[str]) -> None:
    import tomllib

    from lab.cli import main
    from resolver.settings import ResolverSettings

    assert main(["resolver", "-o", "like=coredns", "-o", "prefetch=yes", "--print-settings"]) == 0
    out = capsys.readouterr().out
    assert "cache-min-ttl = 5" in out and "prefetch = true" in out
    table = tomllib.loads(out)["resolver"]
    again = ResolverSettings.model_validate(table)
    assert again.cache_min_ttl == 5 and again.prefetch and again.like == "coredns"


def test_unknown_options_and_bad_toml_read_like_lab_toml_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(None, {}, ["cache-min-tt=5"])
    msg = str(err.value)
    assert msg.startswith("command line and --option: resolver.cache-min-tt: unknown key")
    assert "cache-min-ttl" in msg.split("allowed:")[1]  # Unbound spelling, the one to write
    toml = tmp_path / "lab.toml"
    toml.write_text("[resolver]\nprefetch =\n")
    with pytest.raises(ConfigError, match=r"lab.toml: not valid TOML: .*line 2"):
        load_settings(toml, {}, [])
