"""How every dnslab server stops: SIGTERM or SIGINT asks for an orderly stop, bounded in time.

The first signal sets an :class:`asyncio.Event` the server awaits (it then closes its sockets,
saves what it keeps and returns). Two things make the stop bounded, so a supervisor (``dnslab
up``, a test, systemd, ``docker stop``) never waits on a server that hangs while stopping:

* a second signal exits at once;
* if the process is still alive ``grace`` seconds after the first signal, it exits.

Either forced exit first writes every thread's stack to stderr (``faulthandler``), naming what
the stop was waiting for, and exits with status 1: a forced stop is never reported as a clean
one. Nothing is lost by it: the authoritative server's health view is written atomically after
every change (``health_state``), not at exit.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import signal
import sys
import threading

STOP_GRACE_S = 10.0  # the orderly stop's own waits (web 3 s, TCP 2 s, feeds) fit well inside


def stop_on_signals(what: str, grace: float = STOP_GRACE_S) -> asyncio.Event:
    """An event set by the first SIGTERM/SIGINT (call from inside the running loop); see the
    module docstring for the second signal and the ``grace`` bound."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    state = {"signals": 0}

    def forced(reason: str) -> None:
        print(f"{what}: {reason}; exiting now. Stacks:", file=sys.stderr, flush=True)
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        sys.stderr.flush()
        os._exit(1)

    def on_signal(signum: int) -> None:
        state["signals"] += 1
        if state["signals"] > 1:
            forced(f"second {signal.Signals(signum).name} while stopping")
        stop.set()
        timer = threading.Timer(grace, forced, (f"still stopping {grace:g} s after the signal",))
        timer.daemon = True  # an orderly exit does not wait for it
        timer.start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    return stop
