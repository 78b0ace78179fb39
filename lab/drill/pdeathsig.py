"""``python -m lab.drill.pdeathsig PARENT_PID CMD...``: exec CMD so that it dies with its parent.

``dnslab up`` and drills start their children through this: on Linux it asks the kernel
(``prctl(PR_SET_PDEATHSIG, SIGKILL)``, kept across ``execv``) to kill the child when the
process that started it dies — even by SIGKILL, when no cleanup code can run. Elsewhere it
just execs. If the parent is already gone it exits instead of starting an orphan.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit():
        print("usage: python -m lab.drill.pdeathsig PARENT_PID CMD [ARG...]", file=sys.stderr)
        return 2
    parent, cmd = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    if os.getppid() != parent:
        return 1  # the parent died before the death signal was armed
    os.execv(cmd[0], cmd)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
