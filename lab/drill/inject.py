"""Fault injectors: SIGKILL a region's process by PID, or POST /v1/faults to its control port
(with the region's bearer token when the lab has a secret; docs/security.md).

``LabInjector`` works on a lab this process started (``lab.up.Lab``): it knows every PID and
can restart a region. ``AttachedInjector`` works on a running ``dnslab up``: it learns a
region's PID from its own ``GET /`` answer and cannot restart it; it finds the control ports
and the secret in ``runs/up-current.json`` (``lab.up.write_current``).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Mapping

from lab.errors import InjectionError
from lab.up import READY_TIMEOUT_S, Lab, current_secret, read_current


def post_json(
    url: str, body: dict[str, object], timeout: float = 2.0, token: str | None = None
) -> tuple[int, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
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


def region_token(secret_file: str | None, region: str, where: str = "--secret-file") -> str | None:
    """The fault API token of ``region`` in a lab with this secret (None: no secret);
    ``where`` names the secret's source for ``read_secret``'s checks and errors."""
    from lab.auth import control_token, read_secret

    if not secret_file:
        return None
    return control_token(read_secret(secret_file, where), region)


async def _post(region: str, base: str, body: dict[str, object], token: str | None = None) -> str:
    url = f"http://{base}/v1/faults"
    status, text = await asyncio.to_thread(post_json, url, body, 2.0, token)
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
        if not child.alive():  # e.g. killed by an earlier step: nothing to kill, say so
            code = child.proc.returncode
            raise InjectionError(f"SIGKILL {region} (pid {pid}): not running (exit code {code})")
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
        token = region_token(comp.secret_file, region)
        return await _post(region, comp.control or comp.address, body, token)

    async def container_fault(self, action: str, region: str, params: Mapping[str, object]) -> str:
        raise InjectionError(
            f"{action} {region}: a container fault needs `dnslab containers drill`"
        )


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
        current = read_current()
        control = current.get("control") if current else None
        where = control.get(region) if isinstance(control, dict) else None
        if not isinstance(where, str) or current is None:
            raise InjectionError(
                f"fault on {region}: no running `dnslab up` recorded its control port "
                "in runs/up-current.json (fault APIs are on control ports only)"
            )
        secret = current_secret(current)
        token = region_token(secret[0], region, secret[1]) if secret else None
        return await _post(region, where, body, token)

    async def container_fault(self, action: str, region: str, params: Mapping[str, object]) -> str:
        raise InjectionError(
            f"{action} {region}: a container fault needs `dnslab containers drill`"
        )
