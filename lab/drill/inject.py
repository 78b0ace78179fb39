"""Fault injectors: SIGKILL a region's process by PID, or POST /v1/faults to its backend.

``LabInjector`` works on a lab this process started (``lab.up.Lab``): it knows every PID and
can restart a region. ``AttachedInjector`` works on a running ``dnslab up``: it learns a
region's PID from its own ``GET /`` answer and cannot restart it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request

from lab.errors import InjectionError
from lab.up import READY_TIMEOUT_S, Lab


def post_json(url: str, body: dict[str, object], timeout: float = 2.0) -> tuple[int, str]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")
    except OSError as exc:
        return 0, str(exc)


def get_json(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            doc = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


async def _post(region: str, base: str, body: dict[str, object]) -> str:
    status, text = await asyncio.to_thread(post_json, f"http://{base}/v1/faults", body)
    what = body.get("fault")
    if status == 200:
        return f"fault {what} on {region} (POST http://{base}/v1/faults)"
    raise InjectionError(
        f"fault {what} on {region}: POST http://{base}/v1/faults: HTTP {status} {text[:200]}"
    )


class LabInjector:
    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def kill(self, region: str) -> str:
        _, child = self.lab.region(region)
        pid = child.pid
        child.kill(signal.SIGKILL)
        return f"SIGKILL {region} (pid {pid})"

    async def restart(self, region: str) -> str:
        """Respawn on the event loop's thread (the one that stops the lab), wait off-thread."""
        comp, _ = self.lab.region(region)
        child, ready = self.lab.respawn(comp.name)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not await asyncio.to_thread(ready):
            if not child.alive() or time.monotonic() > deadline:
                raise InjectionError(f"restart {region} (pid {child.pid}): {child.log_tail(3)}")
            await asyncio.sleep(0.05)
        return f"restarted {region} (pid {child.pid})"

    async def post_fault(self, region: str, body: dict[str, object]) -> str:
        comp, _ = self.lab.region(region)
        return await _post(region, comp.control or comp.address, body)


class AttachedInjector:
    def __init__(self, listen_of: dict[str, str]) -> None:
        self.listen_of = listen_of  # region -> backend ADDR:PORT

    def kill(self, region: str) -> str:
        doc = get_json(f"http://{self.listen_of[region]}/")
        pid = doc.get("pid") if doc else None
        if not isinstance(pid, int) or pid <= 1:
            raise InjectionError(f"SIGKILL {region}: its GET / did not give a pid")
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError as exc:
            raise InjectionError(f"SIGKILL {region} (pid {pid}): {exc.strerror}") from None
        return f"SIGKILL {region} (pid {pid})"

    async def restart(self, region: str) -> str:
        raise InjectionError(f"restart {region} is not possible with --attach (restart dnslab up)")

    async def post_fault(self, region: str, body: dict[str, object]) -> str:
        return await _post(region, self.listen_of[region], body)
