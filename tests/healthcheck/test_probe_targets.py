from __future__ import annotations

import asyncio

import pytest

from healthcheck.probe import Target, parse_target, probe
from healthcheck.scheduler import next_start
from healthcheck.settings import CheckSettings
from lab.errors import ConfigError

S = CheckSettings()


@pytest.mark.parametrize(
    ("spec", "target"),
    [
        ("eu=http://127.0.2.1:8080/healthz", Target("eu", "http", "127.0.2.1", 8080, "/healthz")),
        ("eu=http://127.0.2.1:8080", Target("eu", "http", "127.0.2.1", 8080, "/healthz")),
        ("eu=127.0.2.1:8080", Target("eu", "http", "127.0.2.1", 8080, "/healthz")),
        ("eu=https://h.example/ready?x=1", Target("eu", "https", "h.example", 443, "/ready?x=1")),
        ("db=tcp://127.0.0.1:5432", Target("db", "tcp", "127.0.0.1", 5432, "/healthz")),
    ],
)
def test_parse_target(spec: str, target: Target) -> None:
    assert parse_target(spec, S) == target


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("eu", "expected NAME=URL"),
        ("eu=ftp://x:1", "scheme must be http, https or tcp"),
        ("eu=tcp://host", "needs a host and port"),
        ("eu=http://h:99999/", "needs a host and port"),
    ],
)
def test_bad_targets(spec: str, text: str) -> None:
    with pytest.raises(ConfigError, match=text):
        parse_target(spec, S)


def test_next_start_jitter_bounds() -> None:
    assert next_start(10.0, 2.0, 0.0, 0.7) == 12.0
    assert next_start(10.0, 2.0, 0.25, -1.0) == 11.5
    assert next_start(10.0, 2.0, 0.25, 1.0) == 12.5


def test_unexpected_errors_fail_the_probe_instead_of_raising() -> None:
    bad = Target("eu", "http", "a" * 300, 80)  # IDNA refuses the label before any socket
    result = asyncio.run(probe(bad, CheckSettings(interval=1.0)))
    assert not result.ok and result.detail.startswith("probe error: UnicodeError"), result
