"""lab.stopping against real processes: an orderly stop exits 0; a stop that hangs is ended
after the grace period, and a second signal ends it at once, both with status 1 and the
stacks of what the stop was waiting for."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

from lab.procs import wait_for

CHILD = """
import asyncio, sys
from lab.stopping import stop_on_signals

async def main(hang: bool) -> None:
    stop = stop_on_signals("test server", grace={grace})
    print("ready", flush=True)
    await stop.wait()
    print("stopping", flush=True)
    if hang:
        await asyncio.sleep(3600)  # a stop that never finishes

asyncio.run(main(sys.argv[1] == "hang"))
"""


def start(mode: str, grace: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD.format(grace=grace), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def finish(proc: subprocess.Popen[str], within: float) -> tuple[int, str]:
    try:
        wait_for(lambda: proc.poll() is not None, within, "the child to exit")
    finally:
        if proc.poll() is None:
            proc.kill()
    _, err = proc.communicate(timeout=5)
    return proc.returncode, err


def test_an_orderly_stop_exits_zero_without_a_word() -> None:
    proc = start("orderly", grace=30)
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc, 10)
    assert rc == 0 and err == ""  # an exit at once, not after a grace of 30 s


def test_a_stop_that_hangs_is_ended_after_the_grace_with_its_stacks() -> None:
    proc = start("hang", grace=0.5)
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rc, err = finish(proc, 20)
    assert rc == 1
    assert time.monotonic() - began >= 0.5  # not before the grace
    assert "test server: still stopping 0.5 s after the signal; exiting now" in err
    assert "File " in err  # faulthandler's stacks


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_ends_a_hanging_stop_at_once(second: signal.Signals) -> None:
    proc = start("hang", grace=3600)
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "stopping"  # the first signal was handled
    proc.send_signal(second)
    rc, err = finish(proc, 20)
    assert rc == 1
    assert f"test server: second {second.name} while stopping; exiting now" in err
