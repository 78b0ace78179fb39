"""Shared fixtures. Integration tests live in tests/integration/ and use real loopback sockets."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from lab.procs import ProcessGroup

REPO = Path(__file__).resolve().parent.parent
DNSLAB = (
    str(REPO / ".venv" / "bin" / "dnslab") if (REPO / ".venv/bin/dnslab").exists() else "dnslab"
)


def require_tool(name: str) -> str:
    """Path of a system binary; skip the test if it is missing, fail under DNSLAB_REQUIRE_SYSTEM_TOOLS=1."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        msg = f"system binary {name!r} not found (apt-get install it; .ci/run does)"
        if os.environ.get("DNSLAB_REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail(msg + " and DNSLAB_REQUIRE_SYSTEM_TOOLS=1")
        pytest.skip(msg)
    return path


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[ProcessGroup]:
    """A process group whose children are all stopped (by PID) when the test ends."""
    group = ProcessGroup(log_dir=tmp_path / "logs")
    try:
        yield group
    finally:
        group.stop_all()
