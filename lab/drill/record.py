"""What one drill run (one TTL) recorded: the same shape for live runs and simulations."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lab.drill.measure import Observation
from lab.drill.model import ResolverTTL
from lab.drill.population import Client
from lab.drill.scenario import Scenario


@dataclass
class RunRecord:
    """Times are seconds since the client population started."""

    ttl: int
    scenario: Scenario
    clients: list[Client]
    mode: Literal["live", "sim"]
    observations: list[Observation] = field(default_factory=list)
    fault_at: float | None = None  # when the first fault was injected
    fault_action: str = ""
    dead_region: str | None = None
    recovered_at: float | None = None  # the dead region was restarted / its fault cleared
    detected_at: float | None = None  # checker marked the dead region down
    prefault_streak_s: float | None = (
        None  # the deciding failure streak began this long before the fault
    )
    propagated_at: float | None = None  # authoritative stopped answering with the dead region
    end: float = 0.0
    events: list[tuple[float, str]] = field(default_factory=list)  # human-readable timeline
    notes: list[str] = field(default_factory=list)  # anything the report should warn about
    resolver: ResolverTTL = field(default_factory=ResolverTTL)  # the lab resolver's TTL rules

    def note(self, t: float, text: str) -> None:
        self.events.append((t, text))
