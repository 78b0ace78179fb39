"""Shared fixtures. Integration tests live in tests/integration/ and use real loopback sockets."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.procs import ProcessGroup

REPO = Path(__file__).resolve().parent.parent
DNSLAB = (
    str(REPO / ".venv" / "bin" / "dnslab") if (REPO / ".venv/bin/dnslab").exists() else "dnslab"
)


def pytest_configure(config: pytest.Config) -> None:
    """Tests send SIGINT to what they start (Ctrl-C for `dnslab up` and drills). A pytest run
    in the background by a non-interactive shell (``make test &`` in a script or CI step)
    starts with SIGINT ignored, and an ignored signal stays ignored through fork and exec, so
    every `dnslab up` it starts ignores Ctrl-C too and those tests fail (test_up[sigint] did,
    every time, under such a launcher). Python's Ctrl-C handler again here: children start
    with SIGINT at its default, as from a terminal."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def require_tool(name: str) -> str:
    """Path of a system binary; skip the test if it is missing, fail under DNSLAB_REQUIRE_SYSTEM_TOOLS=1."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        msg = f"system binary {name!r} not found (apt-get install it; .ci/run does)"
        if require_system():
            pytest.fail(msg + " and DNSLAB_REQUIRE_SYSTEM_TOOLS=1")
        pytest.skip(msg)
    return path


def require_system() -> bool:
    """DNSLAB_REQUIRE_SYSTEM_TOOLS=1 (CI): a missing tool or engine fails instead of skipping."""
    return os.environ.get("DNSLAB_REQUIRE_SYSTEM_TOOLS") == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under DNSLAB_REQUIRE_SYSTEM_TOOLS=1 no test may skip, whatever skipped it (a skip
    helper that forgot the rule, a skipif, an importorskip): the skip becomes a failure that
    keeps its reason. Expected failures (xfail) are not skips and stay as they are."""
    report = yield
    if require_system() and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under DNSLAB_REQUIRE_SYSTEM_TOOLS=1: {reason}"
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    """The same for a whole module skipped at import (``pytest.importorskip`` at top level)."""
    report = yield
    if require_system() and report.skipped:
        report.outcome = "failed"
    return report


# A test whose call takes longer than this and is not marked slow is named at the end of the run
# (`make fast` should stay about a minute); never a failure, timing is not a test verdict.
SLOW_HINT_S = 5.0
_unmarked_slow: list[tuple[str, float]] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tier = "slow" in report.keywords or "containers" in report.keywords  # outside `make fast`
    if report.when == "call" and report.duration > SLOW_HINT_S and not tier:
        _unmarked_slow.append((report.nodeid, report.duration))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _unmarked_slow:
        terminalreporter.section(f"over {SLOW_HINT_S:.0f} s and not marked slow (docs/testing.md)")
        for nodeid, took in sorted(_unmarked_slow, key=lambda x: -x[1]):
            terminalreporter.write_line(f"{took:6.1f}s {nodeid}")


@pytest.fixture(scope="session", autouse=True)
def lab_state_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """XDG_STATE_HOME of this session: the per-user default lab secret
    (``lab.auth.default_secret_path``) lives in a fresh directory, never in the real
    ~/.local/state; every process a test starts inherits it, so they share one default secret
    as one user's processes do (docs/testing.md). DNSLAB_SECRET_FILE is unset for the same
    reason: only what a test passes decides."""
    home = tmp_path_factory.mktemp("xdg-state")
    saved = {
        k: os.environ.get(k) for k in ("XDG_STATE_HOME", "DNSLAB_SECRET_FILE", "DNSLAB_CONTAINER")
    }
    os.environ["XDG_STATE_HOME"] = str(home)
    os.environ.pop("DNSLAB_SECRET_FILE", None)
    os.environ.pop("DNSLAB_CONTAINER", None)
    try:
        yield home
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def lab_secret(lab_state_home: Path) -> bytes:
    """The session's per-user default lab secret (made on first use, like a component would)."""
    from lab.auth import load_secret

    secret = load_secret(None, None)
    assert secret is not None
    return secret


def fault_auth(region: str) -> dict[str, str]:
    """The Authorization header of ``region``'s fault API under the session's default lab
    secret (what ``dnslab secret --token REGION`` prints): regions started by a test without
    --secret-file use that secret."""
    from lab.auth import control_token, load_secret

    secret = load_secret(None, None)
    assert secret is not None
    return {"Authorization": f"Bearer {control_token(secret, region)}"}


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[ProcessGroup]:
    """A process group whose children are all stopped (by PID) when the test ends."""
    group = ProcessGroup(log_dir=tmp_path / "logs")
    try:
        yield group
    finally:
        group.stop_all()
