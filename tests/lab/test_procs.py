from __future__ import annotations

import sys

import pytest

from lab.errors import ProcessError
from lab.procs import ProcessGroup, free_port, wait_for


def test_wait_for_times_out_with_name() -> None:
    with pytest.raises(ProcessError, match="thing: not ready"):
        wait_for(lambda: False, 0.05, "thing")


def test_wait_for_reports_early_exit(procs: ProcessGroup) -> None:
    child = procs.start("quitter", [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(ProcessError, match="exited with code 3"):
        procs.wait_ready(child, lambda: False, timeout=10)


def test_group_stops_children_by_pid(tmp_path: object) -> None:
    with ProcessGroup() as group:
        child = group.start("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
        assert child.alive()
    wait_for(lambda: not child.alive(), 5, "sleeper stopped")


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", port))


def test_free_port_never_hands_out_a_port_twice() -> None:
    # Callers take several ports before binding any; the kernel's bind(0) may repeat one.
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def test_free_port_on_no_local_address_raises_the_bind_error() -> None:
    import errno

    with pytest.raises(OSError) as info:
        free_port("192.0.2.1")  # TEST-NET-1: no address of this machine
    assert info.value.errno == errno.EADDRNOTAVAIL


def test_free_port_stays_below_the_ephemeral_range() -> None:
    # where no outgoing connection's local port or another program's bind(0) can take it
    # between free_port and the caller's bind
    from pathlib import Path

    spec = Path("/proc/sys/net/ipv4/ip_local_port_range")
    if not spec.exists():
        pytest.skip("no /proc/sys/net/ipv4/ip_local_port_range (not Linux)")
    low = int(spec.read_text().split()[0])
    assert all(1024 <= free_port() < low for _ in range(50))


def test_wait_for_async_polls_on_the_loop_and_times_out() -> None:
    import asyncio

    from lab.procs import wait_for_async

    ticks: list[int] = []

    async def go() -> None:
        async def tick() -> None:
            while len(ticks) < 3:
                ticks.append(1)
                await asyncio.sleep(0)

        task = asyncio.create_task(tick())
        await wait_for_async(lambda: len(ticks) >= 3, 5, "ticks")  # other tasks keep running
        await task
        with pytest.raises(ProcessError, match="never: not true after"):
            await wait_for_async(lambda: False, 0.05, "never")

    asyncio.run(go())


def test_on_fresh_ports_starts_again_only_while_a_port_was_taken() -> None:
    from lab.procs import on_fresh_ports

    tries: list[int] = []

    def taken_twice(attempt: int) -> str:
        tries.append(attempt)
        if attempt < 2:
            raise ProcessError("authoritative: --listen 127.0.0.1:1: cannot bind: in use")
        return "serving"

    assert on_fresh_ports(taken_twice) == "serving" and tries == [0, 1, 2]

    def broken(attempt: int) -> str:
        tries.append(attempt)
        raise ProcessError("zone file: line 3: bad TTL")

    tries.clear()
    with pytest.raises(ProcessError, match="bad TTL"):
        on_fresh_ports(broken)
    assert tries == [0]  # not a taken port: no second start

    def always_taken(attempt: int) -> str:
        raise ProcessError(f"unbound: bind: Address already in use (attempt {attempt})")

    with pytest.raises(ProcessError, match=r"attempt 2\)"):
        on_fresh_ports(always_taken)  # the last attempt's error, naming what happened
