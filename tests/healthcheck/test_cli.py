"""Flag and config resolution of ``dnslab healthcheck`` (no processes, no sockets)."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthcheck.cli import resolve
from lab.cli import build_parser
from lab.errors import ConfigError


def run(*argv: str) -> tuple[str, str, object, list[object]]:
    return resolve(build_parser().parse_args(["healthcheck", *argv]))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "eu"], "--target: expected NAME=URL"),
        (["--target", "eu=ftp://x:1"], "scheme must be http, https or tcp"),
        (["--target", "a=h:1", "--interval", "1", "--timeout", "2"], "must not exceed"),
        (["--target", "a=h:1", "--rise", "0"], "--rise: Input should be greater"),
        (["--target", "a=h:1", "--target", "a=h:2"], "a region is named twice"),
        (["--config", "/nonexistent/lab.toml"], "cannot read config"),
    ],
)
def test_bad_input_names_the_flag(args: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        run(*args)


def test_flags_override_config(tmp_path: Path) -> None:
    cfg = tmp_path / "lab.toml"
    cfg.write_text(
        '[[checkers]]\nname = "na"\nlisten = "127.0.0.1:9001"\n\n'
        "[checks]\ninterval = 4.0\nfall = 5\n\n"
        '[regions.eu]\nlisten = "127.0.2.1:8080"\nv4 = ["127.0.2.1"]\n\n'
        '[regions.us]\ncheck = "tcp://127.0.1.1:22"\nv4 = ["127.0.1.1"]\n'
    )
    name, listen, settings, targets, _ = run("--config", str(cfg), "--fall", "2")
    assert (name, listen) == ("na", "127.0.0.1:9001")
    assert settings.interval == 4.0 and settings.fall == 2  # type: ignore[attr-defined]
    assert [t.url for t in targets] == ["http://127.0.2.1:8080/healthz", "tcp://127.0.1.1:22"]  # type: ignore[attr-defined]
    name, listen, _, targets, _ = run("--config", str(cfg), "--name", "x", "--target", "a=h:1")
    assert (name, listen, len(targets)) == ("x", "127.0.0.1:8054", 1)
