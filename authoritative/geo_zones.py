"""Loading lab.toml + zone files into a serving base (atomic), and the checker feeds.

``GeoSetup.load()`` reads everything first and raises ``ConfigError``/``ZoneError`` before
anything changes, which is what makes ``POST /v1/reload`` atomic: a bad file is refused with
its error and the old state keeps serving.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from authoritative.geo_runtime import GeoRuntime
from authoritative.state import ServingState
from authoritative.zonefile import load_zones, parse_zone_arg
from lab.config import LabConfig, load_config
from lab.errors import ConfigError


class GeoSetup:
    def __init__(self, args: argparse.Namespace, base: ServingState) -> None:
        self.config_path: str | None = getattr(args, "config", None)
        self.zone_args: list[str] = list(getattr(args, "zone", None) or [])
        self.base = base

    def load(self) -> tuple[LabConfig, ServingState]:
        cfg = load_config(self.config_path) if self.config_path else LabConfig()
        cli_paths = {parse_zone_arg(a)[1] for a in self.zone_args}
        args = list(self.zone_args)
        for origin, path in cfg.authoritative.zones.items():
            full = str(cfg.path(path))
            if full not in cli_paths and path not in cli_paths:
                args.append(f"{origin}={full}")
        zones = load_zones(args)
        problems = []
        for key, svc in cfg.services.items():
            if not any(
                svc.name == z.to_text() or svc.name.endswith("." + z.to_text()) for z in zones
            ):
                loaded = ", ".join(z.to_text() for z in zones) or "none"
                problems.append(
                    f"{cfg.source}: services.{key}.name: {svc.name!r} is not inside a loaded zone (zones: {loaded})"
                )
        if problems:
            raise ConfigError("\n".join(problems))
        return cfg, ServingState(zones, {}, self.base.epoch, self.base.chaos)

    def feeds(self, runtime: GeoRuntime) -> Feeds:
        return Feeds()


class Feeds:
    """One ``healthcheck.feed.HealthFeed`` task per configured checker."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[None]] = []
        self.urls: tuple[str, ...] = ()

    def start(self, runtime: GeoRuntime) -> None:
        from healthcheck.feed import HealthFeed

        self.urls = tuple(c.events_url for c in runtime.cfg.checkers)
        for c in runtime.cfg.checkers:
            feed = HealthFeed(c.events_url, *runtime.callbacks(c.name))
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
