"""Summaries of drill runs: the ``results.json`` document and ``observations.csv``.

``summarise`` is pure (a ``RunRecord`` in, a JSON-ready dict out); ``write_*`` are the only
functions here that touch files. The schema is documented in docs/drills.md; bump
``SCHEMA`` when a field changes meaning.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab.drill import model
from lab.drill.explain import client_windows
from lab.drill.measure import (
    busiest_region,
    dead_share,
    failed_after,
    requests,
    stale_windows,
    stats,
)
from lab.drill.record import RunRecord

SCHEMA = "dnslab.drill.results/1"
SHARE_STEP_S = 0.25
CSV_COLUMNS = (
    "ttl",
    "t",
    "t_since_fault",
    "client",
    "location",
    "source",
    "profile",
    "kind",
    "addr",
    "region",
    "answer_ttl",
    "dead",
    "ok",
    "detail",
    "latency_ms",
)


def _r(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def summarise(record: RunRecord) -> dict[str, Any]:
    """Measured metrics of one run with the model's prediction beside them."""
    sc = record.scenario
    check = model.CheckParams(sc.checks.interval, sc.checks.fall, sc.checks.timeout)
    fault = sc.first_outage
    reqs = requests(record.observations)
    fault_at = record.fault_at if record.fault_at is not None else record.end
    dead = record.dead_region or busiest_region(reqs, fault_at) or ""
    windows = stale_windows(reqs, dead, fault_at, record.recovered_at)
    detection = None if record.detected_at is None else record.detected_at - fault_at
    propagation = (
        None
        if record.propagated_at is None or record.detected_at is None
        else max(0.0, record.propagated_at - record.detected_at)
    )
    latency = model.probe_latency(fault.action, fault.fault, check)
    tau = latency + (propagation if propagation is not None else model.PROPAGATION_GUESS_S)
    det_model = model.detection(check, latency)
    by_client = {c.id: c for c in record.clients}
    by_profile: dict[str, Any] = {}
    preds: list[tuple[model.Prediction, int]] = []
    given: list[tuple[model.Prediction, int]] = []
    for prof in sorted({c.profile for c in record.clients}, key=lambda p: p.name):
        members = {c.id for c in record.clients if c.profile == prof}
        affected = {c: w for c, w in windows.affected.items() if c in members}
        pred = model.predict(prof, record.ttl, check, sc.request_interval, tau, record.resolver)
        preds.append((pred, len(affected)))
        if detection is not None:
            eff = model.ttl_eff(prof, record.ttl, sc.request_interval, record.resolver)
            given.append((model.given_detection(detection, propagation or 0.0, eff), len(affected)))
        by_profile[prof.name] = {
            "clients": len(members),
            "clients_affected": len(affected),
            "censored": len(windows.censored & members),
            "stale_window_s": stats(affected.values()).as_dict(),
            "failed_requests": sum(
                1 for o in reqs if o.client in members and o.t >= fault_at and not o.ok
            ),
            "model": pred.as_dict(),
        }
    overall, unbounded = model.combine(preds)
    if fault.action in model.UNSEEN_BY_CHECKERS:  # no failover: the fault's duration rules
        healed = None if record.recovered_at is None else record.recovered_at - fault_at
        overall = model.unseen(healed, sc.request_interval)
        unbounded = 0 if healed is not None else len(windows.affected)
    overall_given = model.combine(given)[0] if given else None
    share = dead_share(reqs, dead, max(0.0, fault_at - 1.0), record.end, SHARE_STEP_S)
    return {
        "ttl": record.ttl,
        "mode": record.mode,
        "ttl_clock": record.ttl_clock or None,  # the lab resolver's: "seconds" (Unbound) | "exact"
        "duration_s": _r(record.end, 3),
        "fault": {
            "at_s": _r(record.fault_at, 3),
            "action": record.fault_action or fault.action,
            "recovered_at_s": _r(record.recovered_at, 3),
        },
        "dead_region": dead or None,
        "detection_s": _r(detection),
        "prefault_streak_s": _r(record.prefault_streak_s),
        "propagation_s": _r(propagation),
        "clients": len(record.clients),
        "clients_affected": len(windows.affected),
        "censored": len(windows.censored),
        "cut": record.cut(windows.censored),
        "stale_window_s": stats(windows.affected.values()).as_dict(),
        "failed_requests": failed_after(reqs, fault_at),
        "requests": len(reqs),
        "request_interval_s": {
            "configured": sc.request_interval,
            "measured": _r(len(record.clients) * record.end / len(reqs)) if reqs else None,
        },
        "resolutions": sum(1 for o in record.observations if o.kind == "resolve"),
        "cost": _cost(record),
        "model": {
            **overall.as_dict(),
            "detection_mean_s": _r(det_model.mean_s),
            "detection_max_s": _r(det_model.max_s),
            "tau_s": _r(tau),
            "unbounded_clients": unbounded,
            "given_measured_detection": None if overall_given is None else overall_given.as_dict(),
        },
        "by_profile": by_profile,
        "dead_share": [[_r(t - fault_at, 3), round(s, 4)] for t, s in share],
        "by_location": _by_location(record, windows.affected, by_client),
        "client_windows": [
            cw.as_dict()
            for cw in client_windows(
                record.clients, record.observations, windows, dead, fault_at, record.propagated_at
            )
        ],
        "events": [[_r(t, 3), text] for t, text in record.events],
        "failed": record.failed,
        "notes": [
            *(
                f"INJECTION FAILED {f}: "
                + (
                    "this run measured no real outage"
                    if record.fault_at is None
                    else "the scenario did not run as written (the numbers describe the fault "
                    "that did happen, not the scenario's timeline)"
                )
                for f in record.failures
            ),
            *([record.cut_note(n)] if (n := record.cut(windows.censored)) else []),
            *record.notes,
        ],
    }


def _cost(record: RunRecord) -> dict[str, Any]:
    """The other half of the trade-off: DNS queries per client per hour (what the clients
    sent, to the authoritative server or the resolver) and the authoritative server's queries
    (total and per second) from clients and the resolver's upstream, without the lab's own
    probes. Simulated runs count them as the world answers them; live runs read the server's
    own counter (``dnslab_authoritative_queries_total``) before the clients start and after
    they stop (``server_queries``), minus the lab's probe queries meanwhile
    (``probe_queries``: the drill's answer probe and, attached, ``dnslab up``'s status line
    and live page; ``null`` if unreadable)."""
    hours = record.end / 3600.0
    queries = sum(1 for o in record.observations if o.kind == "resolve")
    n = len(record.clients)
    auth = record.authoritative_queries
    return {
        "queries_per_client_hour": _r(queries / n / hours, 2) if n and hours > 0 else None,
        "authoritative_queries": auth,
        "authoritative_qps": None if auth is None or record.end <= 0 else _r(auth / record.end, 3),
        "server_queries": record.server_queries,
        "probe_queries": record.probe_queries,
    }


def _by_location(
    record: RunRecord, affected: dict[int, float], by_client: dict[int, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for loc in sorted({c.location for c in record.clients}):
        ws = [w for cid, w in affected.items() if by_client[cid].location == loc]
        out[loc] = {
            "clients": sum(1 for c in record.clients if c.location == loc),
            "clients_affected": len(ws),
            "stale_window_s": stats(ws).as_dict(),
        }
    return out


def document(
    scenario_source: str, scenario: dict[str, Any], runs: Sequence[dict[str, Any]], started: str
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "started_at": started,
        "scenario_file": scenario_source,
        "scenario": scenario,
        "runs": list(runs),
    }


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")


def write_observations(path: Path, records: Sequence[RunRecord]) -> int:
    """One row per resolution and per request of every run; returns the number of rows."""
    rows = 0
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        for rec in records:
            clients = {c.id: c for c in rec.clients}
            fault_at = rec.fault_at
            for o in sorted(rec.observations, key=lambda o: o.t):
                c = clients[o.client]
                since = "" if fault_at is None else f"{o.t - fault_at:.4f}"
                writer.writerow(
                    (
                        rec.ttl,
                        f"{o.t:.4f}",
                        since,
                        o.client,
                        c.location,
                        c.addr,
                        c.profile.name,
                        o.kind,
                        o.addr,
                        o.region,
                        "" if o.ttl is None else o.ttl,
                        int(bool(rec.dead_region) and o.region == rec.dead_region),
                        int(o.ok),
                        o.detail,
                        f"{o.latency_ms:.2f}",
                    )
                )
                rows += 1
    return rows
