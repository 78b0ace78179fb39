"""``dnslab sweep``: a grid of simulated drills, each cell averaged over replicates.

Axes (each a list; the grid is their product): ``ttl``, check settings (``interval``,
``fall``, ``rise``, ``timeout``), ``ttl_policy`` (fixed | dynamic), ``mix`` (client profile
weights), ``rate`` (requests per second per client), ``resolvers`` (shared | per-client) and
``clients``. Unset axes take the scenario's value. A cell runs ``replicates`` times with new
probe phases, start offsets and cache ages; every metric is the mean over replicates with a
95 % confidence interval (Student t over the replicate means).

Each run lasts until every bounded client has converged: first fault + the largest bounded
model maximum of the mix + tail (``horizon`` overrides it). A bounded client still stale at the
end is a **cut**, reported per cell and loudly in every output.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lab.drill import model
from lab.drill.measure import stats
from lab.drill.profiles import parse_profile
from lab.drill.scenario import CheckSpec, Scenario
from lab.sim.run import RunSpec, SimRun

DEFAULT_STALE_AT = (60.0, 900.0)
T95 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    15: 2.131,
    20: 2.086,
    30: 2.042,
}


def t95(df: int) -> float:
    """Two-sided 95 % Student t quantile for ``df`` degrees of freedom (1.96 beyond 30)."""
    if df in T95:
        return T95[df]
    below = [k for k in T95 if k < df]
    return T95[max(below)] if df < 30 else 1.96


class SweepAxes(BaseModel):
    """The ``[sweep]`` table of a scenario, or the flags of ``dnslab sweep``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ttl: list[int] | None = None
    interval: list[float] | None = None
    fall: list[int] | None = None
    rise: list[int] | None = None
    timeout: list[float] | None = None
    ttl_policy: list[Literal["fixed", "dynamic"]] | None = None
    mix: list[dict[str, float]] | None = None
    rate: list[float] | None = None
    arrivals: list[Literal["periodic", "poisson"]] | None = None
    resolvers: list[Literal["shared", "per-client"]] | None = None
    clients: list[int] | None = None
    replicates: int = Field(default=4, ge=1, le=100)
    horizon: float | None = Field(default=None, gt=0)
    stale_at: list[float] = Field(default_factory=lambda: list(DEFAULT_STALE_AT))

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(t < 0 for t in v)):
            raise ValueError("TTLs are whole seconds >= 0, e.g. 30,60,300")
        return v

    @field_validator("interval", "timeout", "rate")
    @classmethod
    def _positive(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and (not v or any(not (x > 0 and math.isfinite(x)) for x in v)):
            raise ValueError("values must be positive numbers")
        return v

    @field_validator("fall", "rise", "clients")
    @classmethod
    def _counts(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or any(x < 1 for x in v)):
            raise ValueError("values must be whole numbers >= 1")
        return v

    @field_validator("clients")
    @classmethod
    def _population(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and any(x > 1_000_000 for x in v):
            raise ValueError("at most 1,000,000 clients per cell")
        return v

    @field_validator("mix")
    @classmethod
    def _mix(cls, v: list[dict[str, float]] | None) -> list[dict[str, float]] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("give at least one mix")
        for m in v:
            if not m:
                raise ValueError("a mix is empty: give profile=weight pairs")
            for name, w in m.items():
                parse_profile(name)  # raises ValueError naming the known profiles
                if not (w >= 0 and math.isfinite(w)):
                    raise ValueError(f"weight of {name!r} must be a number >= 0")
            if sum(m.values()) <= 0:
                raise ValueError("a mix needs at least one positive weight")
        return v

    @field_validator("stale_at")
    @classmethod
    def _stale_at(cls, v: list[float]) -> list[float]:
        if any(not (x >= 0 and math.isfinite(x)) for x in v):
            raise ValueError("times after the fault must be seconds >= 0")
        return v

    def merged(self, over: SweepAxes, given: set[str]) -> SweepAxes:
        """These axes with the fields ``given`` on the command line taken from ``over``."""
        return self.model_copy(update={k: getattr(over, k) for k in given})


@dataclass(frozen=True)
class Cell:
    index: int
    ttl: int
    checks: CheckSpec
    ttl_policy: Literal["fixed", "dynamic"]
    mix: dict[str, float]
    rate: float
    resolvers: Literal["shared", "per-client"]
    clients: int
    arrivals: Literal["periodic", "poisson"] = "periodic"

    def params(self) -> dict[str, Any]:
        return {
            "ttl": self.ttl,
            "interval": self.checks.interval,
            "fall": self.checks.fall,
            "rise": self.checks.rise,
            "timeout": self.checks.timeout,
            "ttl_policy": self.ttl_policy,
            "mix": dict(self.mix),
            "rate": self.rate,
            "arrivals": self.arrivals,
            "resolvers": self.resolvers,
            "clients": self.clients,
        }

    def label(self, varying: Sequence[str]) -> str:
        p = self.params()
        parts = []
        for k in varying:
            v = p[k]
            if k == "mix":
                v = ",".join(f"{n}={w:g}" for n, w in self.mix.items())
            parts.append(f"{k}={v}")
        return " ".join(parts) or f"ttl={self.ttl}"

    def scenario(self, base: Scenario) -> Scenario:
        """The cell's scenario. Its runs last until every bounded client has converged (the
        drill's duration rule without the ``max_duration`` cap)."""
        return base.model_copy(
            update={
                "ttls": [self.ttl],
                "checks": self.checks,
                "profiles": dict(self.mix),
                "request_interval": 1.0 / self.rate,
                "clients": self.clients,
                "duration": None,
                "max_duration": math.inf,
                "tail": max(base.tail, 2.0 / self.rate),
            }
        )


def grid(base: Scenario, axes: SweepAxes) -> list[Cell]:
    """Every combination of the axes, in a stable order (TTL varies fastest)."""
    sc = base
    ttls = axes.ttl or list(sc.ttls)
    intervals = axes.interval or [sc.checks.interval]
    falls = axes.fall or [sc.checks.fall]
    rises = axes.rise or [sc.checks.rise]
    timeouts: list[float | None] = list(axes.timeout) if axes.timeout else [None]
    policies = axes.ttl_policy or ["fixed"]
    mixes = axes.mix or [dict(sc.profiles)]
    rates = axes.rate or [1.0 / sc.request_interval]
    resolvers = axes.resolvers or ["shared"]
    clients = axes.clients or [sc.clients]
    arrivals = axes.arrivals or ["periodic"]
    cells: list[Cell] = []
    outer = itertools.product(clients, resolvers, arrivals, rates, mixes)
    inner = list(itertools.product(policies, intervals, falls, rises, timeouts, ttls))
    combos = ((o, i) for o in outer for i in inner)
    for (n, res, arr, rate, mix), (pol, iv, fall, rise, to, ttl) in combos:
        timeout = to if to is not None else min(sc.checks.timeout, iv)
        if timeout > iv:
            raise ValueError(
                f"--timeout {timeout:g} exceeds --interval {iv:g}: a probe must end before the next"
            )
        checks = CheckSpec(interval=iv, fall=fall, rise=rise, timeout=timeout)
        cells.append(Cell(len(cells), ttl, checks, pol, mix, rate, res, n, arr))
    return cells


def varying(cells: Sequence[Cell]) -> list[str]:
    """The axes that take more than one value in this grid."""
    keys = list(cells[0].params()) if cells else []
    out = []
    for k in keys:
        vals = {repr(c.params()[k]) for c in cells}
        if len(vals) > 1:
            out.append(k)
    return out


# -- one replicate's numbers ------------------------------------------------------------------


def replicate_metrics(run: SimRun, stale_at: Sequence[float]) -> dict[str, float | None]:
    rec = run.record
    windows = list(run.windows.affected.values())
    st = stats(windows)
    ttl = run.record.ttl
    bounded = [
        w
        for cid, w in run.windows.affected.items()
        if math.isfinite(run.record.clients[cid].profile.life(ttl))
    ]
    n = len(rec.clients)
    hours = rec.end / 3600.0
    client_queries = sum(r.resolutions for r in run.results)
    fault = rec.fault_at
    out: dict[str, float | None] = {
        "detection_s": None
        if rec.detected_at is None or fault is None
        else rec.detected_at - fault,
        "propagation_s": None
        if rec.propagated_at is None or rec.detected_at is None
        else max(0.0, rec.propagated_at - rec.detected_at),
        "clients_affected": float(len(windows)),
        "censored": float(len(run.windows.censored)),
        "cut": float(run.cut),
        "window_p50_s": st.p50 if windows else None,
        "window_p90_s": st.p90 if windows else None,
        "window_p99_s": st.p99 if windows else None,
        "window_max_s": st.max if windows else None,
        "window_mean_s": st.mean if windows else None,
        "window_mean_bounded_s": statistics.fmean(bounded) if bounded else None,
        "failed_requests": float(sum(r.failed for r in run.results)),
        "requests": float(sum(r.requests for r in run.results)),
        "authoritative_qps": run.authoritative_queries / rec.end if rec.end > 0 else None,
        "resolver_hit_ratio": (
            1.0 - run.resolver_upstream / run.resolver_queries if run.resolver_queries else None
        ),
        "queries_per_client_hour": client_queries / n / hours if n and hours > 0 else None,
    }
    for tau in stale_at:
        out[f"stale_share_at_{tau:g}s"] = (
            sum(1 for w in windows if w >= tau) / n if n and fault is not None else None
        )
    return out


@dataclass
class CellResult:
    cell: Cell
    horizon: float
    runs: list[dict[str, float | None]] = field(default_factory=list)
    windows: list[tuple[float, bool]] = field(default_factory=list)  # replicate 0: (w, censored)
    by_profile: dict[str, dict[str, float | None]] = field(default_factory=dict)
    clients: list[tuple[int, str, str, float, bool]] = field(default_factory=list)
    model: dict[str, float | None] = field(default_factory=dict)
    ttl_clock: str = ""
    fault_at: float = 0.0
    failures: list[str] = field(default_factory=list)  # fault steps that did not happen

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per metric: mean over replicates, 95 % CI half-width, and the replicate values."""
        keys = list(self.runs[0]) if self.runs else []
        out: dict[str, dict[str, Any]] = {}
        for k in keys:
            vals = [v for r in self.runs if (v := r.get(k)) is not None]
            if not vals:
                out[k] = {"mean": None, "ci95": None, "values": []}
                continue
            mean = statistics.fmean(vals)
            ci = (
                t95(len(vals) - 1) * statistics.stdev(vals) / math.sqrt(len(vals))
                if len(vals) > 1
                else None
            )
            out[k] = {
                "mean": round(mean, 6),
                "ci95": None if ci is None else round(ci, 6),
                "values": [round(v, 6) for v in vals],
            }
        return out

    @property
    def cut(self) -> int:
        return int(max((r.get("cut") or 0.0) for r in self.runs)) if self.runs else 0


def profile_windows(run: SimRun) -> dict[str, dict[str, float | None]]:
    by: dict[str, list[float]] = {}
    members: dict[str, int] = {}
    for c in run.record.clients:
        members[c.profile.name] = members.get(c.profile.name, 0) + 1
    for cid, w in run.windows.affected.items():
        by.setdefault(run.record.clients[cid].profile.name, []).append(w)
    out: dict[str, dict[str, float | None]] = {}
    for name in sorted(members):
        ws = by.get(name, [])
        s = stats(ws)
        out[name] = {
            "clients": float(members[name]),
            "clients_affected": float(len(ws)),
            "window_mean_s": s.mean if ws else None,
            "window_max_s": s.max if ws else None,
        }
    return out


def cell_model(cell: Cell, run: SimRun) -> dict[str, float | None]:
    """The closed form beside the cell (DESIGN.md): bounded clients, τ = probe latency + 50 ms."""
    check = model.CheckParams(cell.checks.interval, cell.checks.fall, cell.checks.timeout)
    fault = run.record.scenario.first_outage
    tau = model.probe_latency(fault.action, fault.fault, check) + model.PROPAGATION_GUESS_S
    preds = []
    for prof in {c.profile for c in run.record.clients}:
        n = sum(1 for cid in run.windows.affected if run.record.clients[cid].profile == prof)
        pred = model.predict(prof, cell.ttl, check, 1.0 / cell.rate, tau, run.record.resolver)
        preds.append((pred, n))
    overall, unbounded = model.combine(preds)
    return {"mean_s": overall.mean_s, "max_s": overall.max_s, "unbounded_clients": float(unbounded)}


def run_cell(
    cell: Cell,
    base: Scenario,
    axes: SweepAxes,
    config: Any,
    replicate: int,
    keep_clients: bool,
) -> tuple[dict[str, float | None], CellResult]:
    """One replicate of one cell (what a worker process computes)."""
    from lab.drill.sim import simulate_cell

    sc = cell.scenario(base)
    spec = RunSpec(
        cell.ttl,
        cell.ttl_policy,
        cell.resolvers,
        axes.horizon,
        model.PROPAGATION_GUESS_S,
        replicate,
        cell.arrivals,
    )
    run = simulate_cell(sc, spec, config)
    res = CellResult(cell, run.record.end)
    metrics = replicate_metrics(run, axes.stale_at)
    res.failures = [f"replicate {replicate}: {f}" for f in run.record.failures]
    if replicate == 0:
        res.windows = [(w, cid in run.windows.censored) for cid, w in run.windows.affected.items()]
        res.by_profile = profile_windows(run)
        res.model = cell_model(cell, run)
        res.ttl_clock = run.timeline.cfg.resolver.ttl_clock
        res.fault_at = run.record.fault_at or 0.0
        if keep_clients:
            clients = run.record.clients
            res.clients = [
                (
                    cid,
                    clients[cid].profile.name,
                    clients[cid].location,
                    w,
                    cid in run.windows.censored,
                )
                for cid, w in sorted(run.windows.affected.items())
            ]
    return metrics, res


def mix_text(mix: Mapping[str, float]) -> str:
    return ",".join(f"{k}={v:g}" for k, v in mix.items())
