"""Scenario checks against the lab they will run on, before anything starts.

``check_scenario`` is the one function behind ``dnslab drill``, ``dnslab sweep`` and
``dnslab check-config``: every fault step's region must be a region of the lab (or
``busiest``), every ``fault`` must be a fault the regions know with parameters they accept
(``regions.faults.parse_fault``, the same check ``POST /v1/faults`` makes), every location of
the client mix must be a location of the lab with an IPv4 network, and every profile must be
a known client profile. All problems are reported at once, each as
``SCENARIO: dotted.field: what is wrong (what would be right)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lab.drill.profiles import parse_profile
from lab.drill.scenario import BUSIEST, RECOVERY_ACTIONS, Scenario, load_scenario
from lab.errors import ConfigError
from regions.faults import FaultError, parse_fault

if TYPE_CHECKING:
    from lab.config import LabConfig


def fault_problems(action: str, fault: str, params: Mapping[str, object]) -> str | None:
    """Why a ``fault`` step would be refused by a region (None: it would be accepted)."""
    if action == "netem":
        from lab.containers import netem_args

        try:
            netem_args(params)
        except ConfigError as exc:
            return f"params: {exc}"
        return None
    if action != "fault":
        if params:
            return f"params: only action = 'fault' takes parameters (action is {action!r})"
        return None
    if "fault" in params:
        return "params: 'fault' is the step's own field, not a parameter"
    found = parse_fault({"fault": fault, **params})
    if isinstance(found, FaultError):
        where = "fault" if found.field == "fault" else f"params.{found.field}"
        return f"{where}: {found.message}"
    return None


def problems(sc: Scenario, regions: list[str], locations: Mapping[str, bool]) -> list[str]:
    """Every reason ``sc`` cannot run on a lab with ``regions`` and ``locations`` (name ->
    has an IPv4 network), as ``field: message`` lines."""
    out: list[str] = []
    known_regions = ", ".join([BUSIEST, *regions])
    if sc.faults and all(f.action in RECOVERY_ACTIONS for f in sc.faults):
        actions = sorted({f.action for f in sc.faults})
        out.append(
            f"faults: only recovery steps ({', '.join(actions)}): no outage to measure; add a "
            "kill, fault or container fault step"
        )
    for i, step in enumerate(sc.faults):
        if step.region != BUSIEST and step.region not in regions:
            out.append(
                f"faults[{i}].region: unknown region {step.region!r} (known: {known_regions})"
            )
        bad = fault_problems(step.action, step.fault, step.params)
        if bad is not None:
            out.append(f"faults[{i}].{bad}")
    for name, weight in sc.locations.items():
        if name not in locations:
            known = ", ".join(sorted(locations)) or "none"
            out.append(f"locations.{name}: unknown location {name!r} (lab.toml has: {known})")
        elif not locations[name] and weight > 0:
            out.append(f"locations.{name}: the location has no IPv4 network for drill clients")
    for name in sc.profiles:
        try:
            parse_profile(name)
        except ValueError as exc:
            out.append(f"profiles.{name}: {exc}")
    return out


def check_scenario(sc: Scenario, cfg: LabConfig, source: str = "<scenario>") -> None:
    """Raise ``ConfigError`` naming ``source`` and each bad field, or return (it can run)."""
    locs = {name: any(":" not in n for n in loc.nets) for name, loc in cfg.locations.items()}
    found = problems(sc, list(cfg.regions), locs)
    if found:
        lines = "\n".join(f"{source}: {p}" for p in found)
        raise ConfigError(f"{lines}\n(see docs/drills.md for the scenario schema)")


def check_scenario_file(path: Path | None, cfg: LabConfig) -> Scenario:
    """Load and check one scenario file (``None``: the default scenario) against ``cfg``."""
    sc = load_scenario(path)
    check_scenario(sc, cfg, str(path) if path is not None else "scenarios/default.toml")
    return sc
