"""bench/fuzz_servers.py: its arguments (the fuzzing itself is tests/integration/test_fuzz_servers.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "fuzz_servers.py"


@pytest.fixture(scope="module")
def script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fuzz_servers", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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
