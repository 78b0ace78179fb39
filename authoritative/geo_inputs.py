"""Health feed messages → ``HealthInputs``: the pure reducer behind the GeoDNS shell.

``dnslab authoritative`` (``geo_runtime.GeoRuntime``) and the virtual-time drill (``lab.sim``)
both turn a checker's wire statuses into the inputs of the health view with ``apply_statuses``,
so quorum, fail-static and the "drop what no answer reads" rule are one code.
"""

from __future__ import annotations

from collections.abc import Iterable

from authoritative.health import HealthInputs, HealthRules, Observation
from healthcheck.events import RegionStatus
from lab.config import LabConfig


def rules_of(cfg: LabConfig) -> HealthRules:
    c = cfg.checks
    spacing = c.interval * (1 - c.jitter)
    a = cfg.authoritative
    return HealthRules(spacing, c.fall, c.rise, a.assume, a.quorum, a.max_stale, a.on_expired)


def observation(st: RegionStatus, at: float) -> Observation | None:
    """A checker's wire status as an observation; None while it has no verdict ('unknown')."""
    if st.state == "unknown":
        return None
    probe = st.last_probe_at if st.last_probe_at is not None else at
    since = st.since if st.since is not None else probe
    return Observation(st.state == "up", since, probe, 0, st.rtt_s, st.next_change_at)


def relevant(obs: Observation | None, cfg: LabConfig) -> Observation | None:
    """Drop what no answer reads, so a probe that changes nothing swaps nothing."""
    if obs is None:
        return None
    services = cfg.services.values()
    if not any(s.ttl_policy == "dynamic" for s in services):
        obs = Observation(obs.up, obs.since, obs.since, 0, obs.rtt, None)
    if not any(s.policy == "latency" for s in services):
        obs = Observation(obs.up, obs.since, obs.at, 0, None, obs.next_change)
    elif obs.rtt is not None:  # 1 ms steps: probe jitter alone should not swap states
        obs = Observation(obs.up, obs.since, obs.at, 0, round(obs.rtt, 3), obs.next_change)
    return obs


def apply_statuses(
    inputs: HealthInputs,
    cfg: LabConfig,
    checker: str,
    statuses: Iterable[RegionStatus],
    at: float,
    replace: bool,
) -> tuple[HealthInputs, bool]:
    """The inputs after ``checker`` said ``statuses`` (a snapshot replaces its earlier word),
    and whether anything an answer reads changed."""
    if replace:
        inputs = inputs.forget(checker)
    changed = replace
    for st in statuses:
        if st.region not in inputs.regions or checker not in inputs.checkers:
            continue
        obs = relevant(observation(st, at), cfg)
        key = (checker, st.region)
        if obs is None:
            if key in inputs.reports:
                inputs = inputs.forget(checker, st.region)
                changed = True
        elif inputs.reports.get(key) != obs:
            inputs = inputs.report(checker, st.region, obs)
            changed = True
    return inputs, changed
