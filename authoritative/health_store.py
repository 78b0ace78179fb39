"""The saved health view (``authoritative.health_state``): what the checkers last said, so a
restarted server does not forget a region it knew was down.

File format (JSON, written atomically: a temporary file in the same directory, fsync, rename)::

    {"version": 1, "saved_at": 1764600000.0,
     "checkers": {"local": {"confirmed_at": 1764599999.5,
                            "regions": {"eu-west": {"up": false, "since": ..., "at": ...}}}}}

``confirmed_at`` is the last time the server knew that word to be current (its feed was up);
the server rewrites the file on every change and about once a second while a feed is up, so
after a SIGKILL the restored word is at most about a second older than it looks. Restored
words count as **stale** (their feed is not connected yet), so fail-static and its
``max_stale`` bound apply to them exactly as to a feed that went away (authoritative/health.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from authoritative.health import HealthInputs, Observation
from lab.errors import ConfigError

VERSION = 1


def encode(inputs: HealthInputs, now: float) -> dict[str, Any]:
    """The saveable part of ``inputs`` (reports only; overrides live in admin_state)."""
    checkers: dict[str, Any] = {}
    for (checker, region), obs in sorted(inputs.reports.items()):
        entry = checkers.setdefault(checker, {"confirmed_at": None, "regions": {}})
        entry["regions"][region] = {"up": obs.up, "since": obs.since, "at": obs.at}
    for checker, entry in checkers.items():
        connected = checker not in inputs.disconnected
        entry["confirmed_at"] = now if connected else inputs.lost.get(checker, inputs.started)
    return {"version": VERSION, "saved_at": now, "checkers": checkers}


def decode(
    data: Any, where: str, checkers: tuple[str, ...], regions: tuple[str, ...]
) -> tuple[dict[tuple[str, str], Observation], dict[str, float]]:
    """(reports, confirmed_at by checker) from a saved file; checkers or regions no longer in
    the config are dropped. Raises ``ConfigError`` naming the file and the field."""

    def num(value: Any, field: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: {field}: expected a number, got {value!r}")
        return float(value)

    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ConfigError(f"{where}: version: expected {VERSION} (a dnslab health state file)")
    table = data.get("checkers")
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: checkers: expected an object")
    reports: dict[tuple[str, str], Observation] = {}
    confirmed: dict[str, float] = {}
    for checker, entry in table.items():
        field = f"checkers.{checker}"
        if not isinstance(entry, dict) or not isinstance(entry.get("regions"), dict):
            raise ConfigError(f"{where}: {field}: expected {{confirmed_at, regions}}")
        at = num(entry.get("confirmed_at"), f"{field}.confirmed_at")
        if checker not in checkers:
            continue
        confirmed[checker] = at
        for region, r in entry["regions"].items():
            rf = f"{field}.regions.{region}"
            if not isinstance(r, dict) or not isinstance(r.get("up"), bool):
                raise ConfigError(f"{where}: {rf}.up: expected true or false")
            obs = Observation(r["up"], num(r.get("since"), f"{rf}.since"), num(r.get("at"), rf))
            if region in regions:
                reports[(checker, region)] = obs
    return reports, confirmed


def restore(inputs: HealthInputs, saved: Mapping[str, Any], where: str) -> HealthInputs:
    """``inputs`` with the saved reports, each checker disconnected since its confirmed_at."""
    reports, confirmed = decode(saved, where, inputs.checkers, inputs.regions)
    for (checker, region), obs in reports.items():
        inputs = inputs.report(checker, region, obs)
    for checker, at in confirmed.items():
        if any(k[0] == checker for k in reports):
            inputs = inputs.connection(checker, False, at)
    return inputs


def read(path: Path) -> dict[str, Any] | None:
    """The saved state, or None if there is no file yet."""
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read health state: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object")
    return data


def write(path: Path, doc: Mapping[str, Any]) -> None:
    """Atomically replace ``path``: readers see the old file or the new one, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w") as fh:
        json.dump(doc, fh, separators=(",", ":"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
