"""Bad observability flags fail before anything starts, naming the flag."""

from __future__ import annotations

import pytest

from lab.cli import main


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (
            ["up", "--prometheus=9090"],
            "--prometheus '9090': expected HOST:PORT, e.g. 127.0.0.1:9090",
        ),
        (["up", "--drill-metrics", "x"], "--drill-metrics 'x': expected HOST:PORT"),
        (["drill", "--sim", "--metrics", "9310"], "--metrics '9310': expected HOST:PORT"),
    ],
)
def test_bad_addresses(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    assert needle in capsys.readouterr().err
