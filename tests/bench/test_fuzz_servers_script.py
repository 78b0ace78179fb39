"""bench/fuzz_servers.py: its arguments (the fuzzing itself is tests/integration/test_fuzz_servers.py)."""

from __future__ import annotations

from types import ModuleType

import pytest

from tests.bench import load_script


@pytest.fixture(scope="module")
def script() -> ModuleType:
    return load_script("fuzz_servers")


def test_documented_defaults(script: ModuleType) -> None:
    args = script.parse_args([])
    assert (args.seconds, args.seed, args.target, args.udp, args.tcp) == (
        60.0,
        None,
        "both",
        500,
        64,
    )


@pytest.mark.parametrize(
    "bad", [["--seconds", "0"], ["--target", "knot"], ["--tcp", "4"], ["--udp", "0"]]
)
def test_bad_arguments_exit_2(script: ModuleType, bad: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        script.parse_args(bad)
    assert exc.value.code == 2
