"""Drill scenarios: a TOML file describing faults, client mix, TTLs and check settings.

A scenario is pure data; ``load_scenario`` turns a file into a validated ``Scenario`` or
raises ``ConfigError`` naming the file and the field. The schema is documented in
docs/drills.md; ``scenarios/default.toml`` is the scenario of ``make demo``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lab.drill.model import CheckParams, ResolverTTL
from lab.drill.model import run_duration as model_run_duration
from lab.drill.profiles import Profile, parse_profile
from lab.errors import ConfigError
from lab.pkgdata import scenario_dir

SCENARIO_DIR = scenario_dir()  # the repository's scenarios/, or the installed package's copy
DEFAULT_SCENARIO = SCENARIO_DIR / "default.toml"
BUSIEST = "busiest"
# faults only the container lab can inject (lab/container_faults.py)
CONTAINER_ACTIONS = frozenset(
    {"container-kill", "pause", "partition-checkers", "partition-clients", "netem", "heal"}
)


class CheckSpec(BaseModel):
    """Health-check settings the drill runs the checker with (see healthcheck CheckSettings)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: float = Field(default=0.5, gt=0)
    fall: int = Field(default=3, ge=1)
    rise: int = Field(default=2, ge=1)
    timeout: float = Field(default=0.25, gt=0)


RECOVERY_ACTIONS = ("restart", "clear", "heal")  # heal: the container lab's undo


class FaultSpec(BaseModel):
    """One step of the fault timeline.

    ``kill``: SIGKILL the region's process (it stays dead unless a later ``restart``).
    ``fault``: ``POST /v1/faults`` on the region's backend with ``fault`` and ``params``.
    ``clear``: remove the region's faults. ``restart``: start a killed region again.
    Container lab only (``dnslab containers drill``; docs/containers.md): ``container-kill``,
    ``pause``, ``partition-checkers``, ``partition-clients``, ``netem`` (``params``: delay_ms,
    jitter_ms, loss_pct, link = "region" | "resolver-upstream") and ``heal`` (undo them).
    ``region`` is a region name or ``"busiest"`` (the region serving the most clients just
    before the first fault).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    at: float = Field(ge=0)
    action: Literal[
        "kill",
        "fault",
        "clear",
        "restart",
        "container-kill",
        "pause",
        "partition-checkers",
        "partition-clients",
        "netem",
        "heal",
    ]
    region: str = BUSIEST
    fault: str = "down"
    params: dict[str, float | int | str] = Field(default_factory=dict)

    @property
    def fault_name(self) -> str:
        """What the step does to the region: ``kill``, a fault's name, ``clear``, ``restart``."""
        return self.fault if self.action == "fault" else self.action

    @property
    def lasts(self) -> float | None:
        """Seconds a ``fault`` step lasts by itself (its ``duration`` parameter), else None."""
        d = self.params.get("duration") if self.action == "fault" else None
        return float(d) if isinstance(d, int | float) else None


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "drill"
    description: str = ""
    ttls: list[int] = Field(default_factory=lambda: [5, 15], min_length=1)
    clients: int = Field(default=60, ge=1, le=1_000_000)
    request_interval: float = Field(default=0.2, gt=0)
    duration: float | None = Field(
        None, gt=0
    )  # seconds per TTL run; None: fault + model max + tail
    tail: float = Field(default=2.0, ge=0)
    max_duration: float = Field(default=90.0, gt=0)
    seed: int = 1
    locations: dict[str, float] = Field(default_factory=lambda: {"na": 0.3, "eu": 0.5, "ap": 0.2})
    profiles: dict[str, float] = Field(default_factory=lambda: {"honours-ttl": 1.0})
    checks: CheckSpec = CheckSpec()
    faults: list[FaultSpec] = Field(min_length=1)
    # overrides of lab.toml [resolver] for the drill's lab, e.g. {"cache-min-ttl" = 10}
    resolver: dict[str, str | int | float | bool] = Field(default_factory=dict)
    # axes of `dnslab sweep` (lab/sim/sweep.py SweepAxes); a live drill ignores them
    sweep: dict[str, Any] | None = None

    @field_validator("resolver")
    @classmethod
    def _resolver_knobs(
        cls, knobs: dict[str, str | int | float | bool]
    ) -> dict[str, str | int | float | bool]:
        from resolver.settings import ResolverSettings

        ResolverSettings.model_validate(knobs)  # unknown or bad knobs fail here, by name
        return knobs

    @field_validator("ttls")
    @classmethod
    def _positive_ttls(cls, ttls: list[int]) -> list[int]:
        if any(t < 0 for t in ttls):
            raise ValueError("TTLs must be >= 0 seconds")
        return ttls

    @field_validator("locations", "profiles")
    @classmethod
    def _weights(cls, weights: dict[str, float]) -> dict[str, float]:
        if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            raise ValueError("give at least one entry with a positive weight (no negatives)")
        return weights

    @field_validator("profiles")
    @classmethod
    def _known_profiles(cls, weights: dict[str, float]) -> dict[str, float]:
        for name in weights:
            parse_profile(name)  # raises ValueError with the list of known profiles
        return weights

    @model_validator(mode="after")
    def _sorted_faults(self) -> Scenario:
        ats = [f.at for f in self.faults]
        if ats != sorted(ats):
            raise ValueError("faults must be listed in time order (by 'at')")
        return self

    @property
    def first_outage(self) -> FaultSpec:
        """The first step that makes an outage (not a recovery step): the fault measured.
        A timeline may open with a recovery step (e.g. ``clear`` at 0); the record, the model
        and the run's duration all follow this step, never ``faults[0]`` blindly."""
        for step in self.faults:
            if step.action not in RECOVERY_ACTIONS:
                return step
        return self.faults[0]  # recovery-only timelines are refused by validate.problems

    @property
    def first_fault_at(self) -> float:
        return self.first_outage.at


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems} (see docs/drills.md for the schema)") from None


def load_scenario(path: Path | None) -> Scenario:
    path = path or DEFAULT_SCENARIO
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read scenario: {exc.strerror}") from None
    return parse_scenario(text, str(path))


def run_duration(
    sc: Scenario, ttl: int, profiles: list[Profile], resolver: ResolverTTL | None = None
) -> float:
    """How long one run lasts (live and simulated alike): the scenario's ``duration``, else
    first fault + the largest bounded model maximum of ``profiles`` + ``tail``, capped at
    ``max_duration``."""
    if sc.duration is not None:
        return sc.duration
    check = CheckParams(sc.checks.interval, sc.checks.fall, sc.checks.timeout)
    return model_run_duration(
        sc.first_fault_at,
        profiles,
        ttl,
        check,
        sc.request_interval,
        sc.tail,
        sc.max_duration,
        resolver,
    )
