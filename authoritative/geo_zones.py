"""Loading lab.toml + zone files into a serving base (atomic), and the checker feeds.

``GeoSetup.load()`` reads everything first and raises ``ConfigError``/``ZoneError`` before
anything changes, which is what makes ``POST /v1/reload`` atomic: a bad file is refused with
its error and the old state keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
from collections.abc import Mapping
from pathlib import Path

import dns.name

from authoritative.geo_runtime import GeoRuntime
from authoritative.state import ServingState
from authoritative.zone import Zone
from authoritative.zonefile import load_zones, parse_zone_arg
from lab.config import LabConfig, load_config
from lab.errors import ConfigError


def read_admin_state(path: Path, regions: Mapping[str, object]) -> dict[str, bool]:
    """Forced states from an admin_state file: ``{"eu-west": "down", ...}`` (missing file: none)."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read admin state: {exc.strerror}") from None
    try:
        data = json.loads(raw or "{}")
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected an object such as {{"eu-west": "down"}}')
    out = {}
    for region, state in data.items():
        if region not in regions:
            known = ", ".join(regions)
            raise ConfigError(f"{path}: {region}: unknown region (known: {known})")
        if state not in ("up", "down"):
            raise ConfigError(f'{path}: {region}: expected "up" or "down", got {state!r}')
        out[region] = state == "up"
    return out


def write_admin_state(path: Path, forced: Mapping[str, bool]) -> None:
    """Atomically replace the admin_state file with the current overrides."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    body = {r: ("up" if up else "down") for r, up in sorted(forced.items())}
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, path)


def service_problems(cfg: LabConfig, zones: Mapping[dns.name.Name, Zone]) -> list[str]:
    """Each service name must sit in a loaded zone, without records of its own, not below a cut."""
    out = []
    by_depth = sorted(zones.items(), key=lambda item: -len(item[0]))
    for key, svc in cfg.services.items():
        where = f"{cfg.source}: services.{key}.name: {svc.name!r}"
        name = dns.name.from_text(svc.name)
        zone = next((z for origin, z in by_depth if name.is_subdomain(origin)), None)
        if zone is None:
            loaded = ", ".join(z.to_text() for z in zones) or "none"
            out.append(f"{where} is not inside a loaded zone (zones: {loaded})")
        elif name in zone.nodes:
            out.append(
                f"{where} also has records in {zone.source or zone.origin}; "
                "remove them (the service answers for this name)"
            )
        elif (cut := zone.find_cut(name)) is not None:
            out.append(f"{where} is below the delegation {cut} in {zone.origin}")
    return out


class GeoSetup:
    def __init__(self, args: argparse.Namespace, base: ServingState) -> None:
        self.config_path: str | None = getattr(args, "config", None)
        self.zone_args: list[str] = list(getattr(args, "zone", None) or [])
        self.base = base
        self.forced: dict[str, bool] = {}  # from authoritative.admin_state, read by load()

    def load(self) -> tuple[LabConfig, ServingState]:
        cfg = load_config(self.config_path) if self.config_path else LabConfig()
        cli_paths = {parse_zone_arg(a)[1] for a in self.zone_args}
        args = list(self.zone_args)
        for origin, path in cfg.authoritative.zones.items():
            full = str(cfg.path(path))
            if full not in cli_paths and path not in cli_paths:
                args.append(f"{origin}={full}")
        zones = load_zones(args)
        problems = service_problems(cfg, zones)
        self.forced = {}
        if cfg.authoritative.admin_state:
            self.forced = read_admin_state(cfg.path(cfg.authoritative.admin_state), cfg.regions)
        if problems:
            raise ConfigError("\n".join(problems))
        return cfg, ServingState(zones, {}, self.base.epoch, self.base.chaos)

    def feeds(self, runtime: GeoRuntime, secret: bytes | None = None) -> Feeds:
        return Feeds(secret)


class Feeds:
    """One ``healthcheck.feed.HealthFeed`` task per configured checker; with the lab secret
    each feed accepts only streams signed with that checker's key (docs/security.md)."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.tasks: list[asyncio.Task[None]] = []
        self.urls: tuple[str, ...] = ()
        self.secret = secret

    def start(self, runtime: GeoRuntime) -> None:
        from healthcheck.feed import HealthFeed
        from lab.auth import derive

        self.urls = tuple(c.events_url for c in runtime.cfg.checkers)
        for c in runtime.cfg.checkers:
            key = derive(self.secret, "checker", c.name) if self.secret is not None else None
            feed = HealthFeed(
                c.events_url,
                *runtime.callbacks(c.name),
                key=key,
                checker=c.name,
                on_refused=functools.partial(runtime.on_refused, c.name),
            )
            self.tasks.append(asyncio.get_running_loop().create_task(feed.run()))

    def restart(self, runtime: GeoRuntime) -> None:
        if tuple(c.events_url for c in runtime.cfg.checkers) != self.urls:
            for task in self.tasks:
                task.cancel()
            self.tasks = []
            self.start(runtime)

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks = []
