"""``dnslab drill --sim``: one drill run on the virtual clock (``lab.sim``), as a ``RunRecord``.

The simulation runs the lab's own pure objects — the checker's state machine, the regions'
fault effects, the authoritative decision built from lab.toml, the resolver core, the client
profiles — under a discrete-event driver (see ``lab.sim.world``, docs/drills.md). This module
is the drill's entry point to it: the same scenario and lab.toml as a live drill, one TTL,
per-request observations kept, so ``measure``/``results``/``report`` work as for a live run.
``dnslab sweep`` runs the same function per cell without observations.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from lab.drill import events as ev
from lab.drill import model
from lab.drill.record import RunRecord
from lab.drill.scenario import Scenario
from lab.errors import ConfigError
from lab.pkgdata import default_lab_toml
from lab.sim.run import ResolverMode, RunSpec, SimRun, run_config, simulate_run
from resolver.settings import ResolverSettings


def load_lab(config: Path | None) -> tuple[dict[str, object], Path, str]:
    """lab.toml as a dict, the directory its paths are relative to, and its name."""
    path = config or default_lab_toml()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return raw, path.resolve().parent, str(path)


def simulate_cell(
    scenario: Scenario,
    spec: RunSpec,
    config: Path | None = None,
    observations: bool = False,
    sinks: Sequence[ev.EventSink] = (),
) -> SimRun:
    raw, base, source = load_lab(config)
    cfg, key = run_config(raw, base, scenario, spec, source)
    return simulate_run(scenario, cfg, key, spec, observations, sinks)


def simulate(
    scenario: Scenario,
    ttl: int,
    config: Path | None = None,
    propagation: float = model.PROPAGATION_GUESS_S,
    duration: float | None = None,
    resolver: ResolverSettings | Mapping[str, object] | None = None,
    sinks: Sequence[ev.EventSink] = (),
    replicate: int = 0,
    ttl_policy: Literal["fixed", "dynamic"] = "fixed",
    resolver_mode: ResolverMode = "shared",
) -> RunRecord:
    """Simulate one run with per-request observations. ``resolver``: knobs over lab.toml's
    ``[resolver]`` (and the scenario's), e.g. ``{"cache_min_ttl": 10}``."""
    if resolver is not None:
        knobs = (
            resolver.model_dump(exclude_unset=True)
            if isinstance(resolver, ResolverSettings)
            else dict(resolver)
        )
        scenario = scenario.model_copy(update={"resolver": {**scenario.resolver, **knobs}})
    spec = RunSpec(ttl, ttl_policy, resolver_mode, duration, propagation, replicate)
    return simulate_cell(scenario, spec, config, observations=True, sinks=sinks).record
