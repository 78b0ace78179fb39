"""Why was a client still sent to the dead region? One sentence per affected client.

Pure: from a run's observations, find the answer a client used for its last request to the
dead region — when it was resolved, from where, with what TTL, how long its profile kept it —
and say which rule kept it stale: a cache that outlived the change, a re-resolution before
the authoritative answer changed, a pinned answer, or an upstream that still answered it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from lab.drill.measure import Observation, Windows
from lab.drill.population import Client


@dataclass(frozen=True)
class ClientWindow:
    client: int
    location: str
    source: str
    profile: str
    window_s: float
    censored: bool
    why: str

    def as_dict(self) -> dict[str, object]:
        return {
            "client": self.client,
            "location": self.location,
            "source": self.source,
            "profile": self.profile,
            "window_s": round(self.window_s, 4),
            "censored": self.censored,
            "why": self.why,
        }


def _rel(t: float, fault_at: float) -> str:
    return f"{t - fault_at:+.2f}s"


def explain(
    client: Client,
    obs: Sequence[Observation],
    dead: str,
    fault_at: float,
    changed_at: float | None,
    window: float,
    censored: bool,
) -> str:
    """One sentence: why ``client`` kept being sent to ``dead`` for ``window`` seconds."""
    prof = client.profile
    if window <= 0:
        return "its first request after the fault already went elsewhere"
    last = fault_at + window
    answers = [o for o in obs if o.kind == "resolve" and o.ok and o.t <= last and o.region == dead]
    change = (
        f"the authoritative answer changed at {_rel(changed_at, fault_at)}"
        if changed_at is not None
        else "the authoritative answer never changed"
    )
    if not answers:
        return f"no resolution of {dead} seen before its last request ({change})"
    got = answers[-1]
    if prof.kind == "pinned":
        return f"pinned: resolved {dead} once at {_rel(got.t, fault_at)} and never again"
    if not prof.caches:
        who = "the lab resolver" if prof.upstream == "resolver" else "the authoritative server"
        extra = f", TTL {got.ttl}s left in its cache" if prof.upstream == "resolver" else ""
        return (
            f"asks on every request; {who} answered {dead} until {_rel(got.t, fault_at)}"
            f"{extra} ({change})"
        )
    ttl = got.ttl or 0
    life = prof.life(ttl)
    rule = f"TTL {ttl}s" if life == ttl else f"TTL {ttl}s kept {life:g}s by {prof.name}"
    first = next((o for o in obs if o.kind == "resolve" and o.ok), None)
    if first is got:
        rule += f", its first answer, cached as if {client.age_fraction * life:.1f}s old"
    when = "before" if got.t < fault_at else "after"
    tail = " — still cached at the end of the run" if censored else ""
    refreshed = ""
    if got.t >= fault_at and (changed_at is None or got.t < changed_at):
        refreshed = ", re-resolved after the fault but before the answer changed"
    stale = ""
    last_req = next((o for o in reversed(obs) if o.kind == "request" and o.t == last), None)
    if last_req is not None and last_req.detail.split(":")[0] in ("stale", "prefetch"):
        stale = f", last used {last_req.detail.split(':')[0]} while it refreshed"
    return (
        f"answer {dead} resolved {when} the fault at {_rel(got.t, fault_at)} ({rule}){refreshed}"
        f"{stale}; last sent there at {_rel(last, fault_at)} ({change}){tail}"
    )


def client_windows(
    clients: Sequence[Client],
    observations: Sequence[Observation],
    windows: Windows,
    dead: str,
    fault_at: float,
    changed_at: float | None,
) -> list[ClientWindow]:
    """Every affected client, longest window first, with the reason."""
    by_client: dict[int, list[Observation]] = defaultdict(list)
    for o in sorted(observations, key=lambda o: o.t):
        if o.client in windows.affected:
            by_client[o.client].append(o)
    index = {c.id: c for c in clients}
    out = []
    for cid, w in windows.affected.items():
        c = index[cid]
        censored = cid in windows.censored
        why = explain(c, by_client[cid], dead, fault_at, changed_at, w, censored)
        out.append(ClientWindow(cid, c.location, c.addr, c.profile.name, w, censored, why))
    return sorted(out, key=lambda cw: (-cw.window_s, cw.client))
