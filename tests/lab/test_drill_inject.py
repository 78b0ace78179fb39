"""The live injector says when a kill finds nothing to kill (issue 9 item 6: an injection that
fails at run time fails the drill), on a real child process."""

from __future__ import annotations

import sys
from typing import Any, cast

import pytest

from lab.drill.inject import LabInjector
from lab.errors import InjectionError
from lab.procs import Child, ProcessGroup, wait_for
from lab.up import Lab


class _OneRegionLab:
    """Just ``Lab.region`` for one real child (the injector needs nothing else to kill)."""

    def __init__(self, child: Child) -> None:
        self.child = child

    def region(self, name: str) -> tuple[Any, Child]:
        assert name == "eu-west"
        return None, self.child


def test_a_second_kill_of_a_dead_region_fails(procs: ProcessGroup) -> None:
    child = procs.start("region", [sys.executable, "-c", "import time; time.sleep(60)"])
    injector = LabInjector(cast(Lab, _OneRegionLab(child)))
    assert injector.kill("eu-west") == f"SIGKILL eu-west (pid {child.pid})"
    wait_for(lambda: not child.alive(), 10, "the killed child gone")
    with pytest.raises(InjectionError, match=rf"SIGKILL eu-west \(pid {child.pid}\): not running"):
        injector.kill("eu-west")
