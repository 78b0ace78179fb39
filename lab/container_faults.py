"""Container-level faults for drills in the compose lab, through the Docker Engine API.

``ContainerInjector`` runs inside the drill container (the engine's socket is mounted) and
finds the lab's containers and networks by their compose labels (its own project). Each
method returns the timeline line the drill records, or raises ``InjectionError`` (the run
then fails and says why), so a report never claims a fault that did not happen. What each fault teaches: docs/containers.md.

- ``container-kill``: SIGKILL the region's container (its addresses vanish: probes and
  requests time out instead of being refused, unlike the loopback lab); ``restart`` starts it.
- ``pause``: freeze every process of the container (a hang: connections open, no answer).
- ``partition-checkers`` / ``partition-clients``: disconnect the region from the ``checks``
  or the ``clients`` network only.
- ``netem``: ``tc netem`` delay/loss on the region's client link, or (``link =
  "resolver-upstream"``) on the resolver's link to the authoritative server only.
- ``heal``: undo every container fault on the region (reconnect, unpause, remove netem).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lab.containers import (
    CHECKS,
    CLIENTS,
    CONFIG_DIR,
    REGION_CONTROL_PORT,
    SECRET,
    Plan,
    netem_args,
)
from lab.errors import ConfigError, InjectionError

SOCKET = "/var/run/docker.sock"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
NETWORK_LABEL = "com.docker.compose.network"
READY_TIMEOUT_S = 30.0
PAUSE_TRIES = 5


class EngineError(Exception):
    pass


class Engine:
    """The few Docker Engine API calls the faults need (HTTP over the unix socket)."""

    def __init__(self, sock: str = SOCKET) -> None:
        self.http = httpx.Client(
            transport=httpx.HTTPTransport(uds=sock), base_url="http://docker", timeout=30.0
        )

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        try:
            resp = self.http.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise EngineError(f"{method} {path}: {exc}") from None
        if resp.status_code >= 400:
            try:
                msg = resp.json().get("message", resp.text)
            except ValueError:
                msg = resp.text
            raise EngineError(f"{method} {path}: HTTP {resp.status_code} {msg}")
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.content

    def find(self, what: str, labels: Mapping[str, str]) -> list[dict[str, Any]]:
        filters = json.dumps({"label": [f"{k}={v}" for k, v in labels.items()]})
        query = (
            "filters=" + urllib.parse.quote(filters) + ("&all=1" if what == "containers" else "")
        )
        path = "/containers/json" if what == "containers" else "/networks"
        found = self.call("GET", f"{path}?{query}")
        return list(found or [])

    def exec(self, container: str, cmd: list[str]) -> tuple[int, str]:
        created = self.call(
            "POST",
            f"/containers/{container}/exec",
            {"Cmd": cmd, "AttachStdout": True, "AttachStderr": True},
        )
        raw = self.call("POST", f"/exec/{created['Id']}/start", {"Detach": False, "Tty": False})
        out = _demux(raw if isinstance(raw, bytes) else json.dumps(raw).encode())
        code = self.call("GET", f"/exec/{created['Id']}/json")["ExitCode"]
        return int(code if code is not None else -1), out

    def close(self) -> None:
        self.http.close()


def _demux(raw: bytes) -> str:
    """The engine's multiplexed stdout/stderr stream (8-byte frame headers) as text."""
    out, i = [], 0
    while i + 8 <= len(raw):
        size = int.from_bytes(raw[i + 4 : i + 8], "big")
        out.append(raw[i + 8 : i + 8 + size])
        i += 8 + size
    return b"".join(out).decode(errors="replace")


def own_project(engine: Engine) -> str:
    """The compose project of the container this runs in (its hostname is its id)."""
    try:
        me = engine.call("GET", f"/containers/{socket.gethostname()}/json")
    except EngineError as exc:
        raise ConfigError(
            f"container faults need the Docker engine socket ({SOCKET}) and to run inside "
            f"the compose lab (docker-compose run drill): {exc}"
        ) from None
    project = (me.get("Config", {}).get("Labels") or {}).get(PROJECT_LABEL)
    if not project:
        raise ConfigError("this container is not part of a compose project (no project label)")
    return str(project)


@dataclass
class ContainerInjector:
    """The drill's ``Injector`` for the compose lab (see the module docstring)."""

    plan: Plan
    project: str
    engine: Engine = field(default_factory=Engine)
    undo: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # region -> steps

    def container(self, service: str) -> str:
        found = self.engine.find(
            "containers", {PROJECT_LABEL: self.project, SERVICE_LABEL: service}
        )
        found = [c for c in found if c.get("Labels", {}).get("com.docker.compose.oneoff") != "True"]
        if len(found) != 1:
            raise EngineError(f"{len(found)} containers for service {service} (want 1)")
        return str(found[0]["Id"])

    def network(self, name: str) -> str:
        found = self.engine.find("networks", {PROJECT_LABEL: self.project, NETWORK_LABEL: name})
        if len(found) != 1:
            raise EngineError(f"{len(found)} networks named {name} in project {self.project}")
        return str(found[0]["Id"])

    # -- the Injector protocol ------------------------------------------------------------

    def kill(self, region: str) -> str:
        raise InjectionError(
            f"kill {region}: in the container lab use container-kill (a killed "
            "container's addresses vanish, so probes time out instead of being refused)"
        )

    async def restart(self, region: str) -> str:
        try:
            cid = await asyncio.to_thread(self.container, region)
            await asyncio.to_thread(self.engine.call, "POST", f"/containers/{cid}/start")
        except EngineError as exc:
            raise InjectionError(f"restart {region}: {exc}") from None
        url = f"http://{self.plan.region(region).core}:{REGION_CONTROL_PORT}/healthz"
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not await asyncio.to_thread(_answers, url):
            if time.monotonic() > deadline:
                raise InjectionError(
                    f"restart {region}: no answer on {url} in {READY_TIMEOUT_S:g}s"
                )
            await asyncio.sleep(0.05)
        return f"restarted container {region} ({cid[:12]})"

    async def post_fault(self, region: str, body: dict[str, object]) -> str:
        from lab.drill.inject import post_json, region_token

        base = f"{self.plan.region(region).core}:{REGION_CONTROL_PORT}"
        secret = Path(CONFIG_DIR) / SECRET
        token = region_token(str(secret) if secret.exists() else None, region)
        url = f"http://{base}/v1/faults"
        status, text = await asyncio.to_thread(post_json, url, body, 2.0, token)
        what = body.get("fault")
        if status == 200:
            return f"fault {what} on {region} (POST http://{base}/v1/faults)"
        raise InjectionError(f"fault {what} on {region}: HTTP {status} {text[:200]}")

    async def container_fault(self, action: str, region: str, params: Mapping[str, Any]) -> str:
        try:
            return await asyncio.to_thread(self._container_fault, action, region, params)
        except (EngineError, ConfigError) as exc:
            raise InjectionError(f"{action} {region}: {exc}") from None

    # -- the faults -----------------------------------------------------------------------

    def _container_fault(self, action: str, region: str, params: Mapping[str, Any]) -> str:
        place = self.plan.region(region)
        if action == "heal":
            return self.heal(region)
        if action == "container-kill":
            cid = self.container(region)
            self.engine.call("POST", f"/containers/{cid}/kill?signal=SIGKILL")
            return f"SIGKILL container {region} ({cid[:12]})"
        if action == "pause":
            cid = self.container(region)
            for attempt in range(1, PAUSE_TRIES + 1):
                try:
                    self.engine.call("POST", f"/containers/{cid}/pause")
                    break
                except EngineError as exc:
                    # the cgroup freezer gives up while a busy task will not stop in time
                    if "unable to freeze" not in str(exc) or attempt == PAUSE_TRIES:
                        raise
                    time.sleep(0.1)
            self.undo.setdefault(region, []).append(("unpause", cid))
            return f"paused container {region} ({cid[:12]})"
        if action in ("partition-checkers", "partition-clients"):
            net, ip = (
                (CHECKS, place.checks) if action.endswith("checkers") else (CLIENTS, place.clients)
            )
            cid, nid = self.container(region), self.network(net.name)
            self.engine.call(
                "POST", f"/networks/{nid}/disconnect", {"Container": cid, "Force": True}
            )
            self.undo.setdefault(region, []).append(("connect", f"{nid} {cid} {ip}"))
            return f"disconnected {region} from the {net.name} network ({ip})"
        if action == "netem":
            return self._netem(region, place.clients, params)
        raise ConfigError(f"unknown container fault {action!r}")

    def _netem(self, region: str, clients_ip: str, params: Mapping[str, Any]) -> str:
        args = netem_args(params)
        link = str(params.get("link", "region"))
        if link == "region":
            cid, ip, where = self.container(region), clients_ip, f"{region}'s client link"
            cmds = [["tc", "qdisc", "replace", "dev", "{dev}", "root", "netem", *args]]
        elif link == "resolver-upstream":
            cid, ip = self.container("resolver"), self.plan.resolver_dns
            where = f"the resolver's upstream link (to {self.plan.authoritative_dns})"
            prio = "tc qdisc replace dev {dev} root handle 1: prio bands 4 priomap" + " 1" * 16
            netem = "tc qdisc replace dev {dev} parent 1:4 handle 40: netem"
            only = f"tc filter replace dev {{dev}} parent 1: protocol ip prio 1 u32 match ip dst {self.plan.authoritative_dns}/32 flowid 1:4"
            cmds = [prio.split(), netem.split() + args, only.split()]
        else:
            raise ConfigError(f"netem: link {link!r}: expected 'region' or 'resolver-upstream'")
        dev = self._device(cid, ip)
        for cmd in cmds:
            argv = [dev if a == "{dev}" else a for a in cmd]
            code, out = self.engine.exec(cid, argv)
            if code != 0:
                raise EngineError(f"{' '.join(argv)}: exit {code}: {out.strip()}")
        self.undo.setdefault(region, []).append(("netem", f"{cid} {dev}"))
        return f"netem {' '.join(args)} on {where} ({dev})"

    def _device(self, cid: str, ip: str) -> str:
        code, out = self.engine.exec(cid, ["ip", "-o", "-4", "addr", "show"])
        for line in out.splitlines():
            parts = line.split()
            if code == 0 and len(parts) > 3 and parts[3].split("/")[0] == ip:
                return parts[1].split("@")[0]
        raise EngineError(f"no interface with {ip} in container {cid[:12]}: {out.strip()}")

    def heal(self, region: str) -> str:
        done: list[str] = []
        for kind, arg in reversed(self.undo.pop(region, [])):
            if kind == "unpause":
                self.engine.call("POST", f"/containers/{arg}/unpause")
                done.append("unpaused")
            elif kind == "connect":
                nid, cid, ip = arg.split()
                body = {"Container": cid, "EndpointConfig": {"IPAMConfig": {"IPv4Address": ip}}}
                self.engine.call("POST", f"/networks/{nid}/connect", body)
                done.append(f"reconnected {ip}")
            elif kind == "netem":
                cid, dev = arg.split()
                self.engine.exec(cid, ["tc", "qdisc", "del", "dev", dev, "root"])
                done.append(f"netem removed ({dev})")
        return f"healed {region}: " + (", ".join(done) or "nothing to undo")

    def heal_all(self) -> list[str]:
        return [self.heal(region) for region in list(self.undo)]


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=0.5) as resp:
            return int(resp.status) == 200
    except OSError:
        return False
