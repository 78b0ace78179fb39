""" "Why did this client get that answer?" — one explanation, as JSON and as text.

Pure. ``explain`` turns a ``Decision`` (services.py) into a JSON-ready dict; ``render`` prints
that dict, so ``dnslab explain`` shows the same text offline (config + assumed health) and
against a running server (``--admin URL``, which returns the dict).
"""

from __future__ import annotations

import math
from typing import Any

import dns.rdatatype

from authoritative.geo import Client
from authoritative.services import Decision, Services, decide


def _when(t: float, now: float) -> float | None:
    return None if math.isinf(t) else round(t - now, 3)


def explain_decision(
    d: Decision, services: Services, qtype: int, now: float, health: str
) -> dict[str, Any]:
    loc = d.located
    sel = d.selection
    regions = []
    for step in sel.steps:
        h = services.view[step.region]
        regions.append(
            {
                "region": step.region,
                "state": h.state,
                "forced": h.forced,
                "verdict": step.verdict,
                "why": h.why,
                "since_s_ago": round(now - h.since, 3),
                "assumed": health.startswith("offline")
                or (not h.forced and all(v.source == "assumed" for v in h.votes)),
                "next_change_in_s": _when(h.next_change, now),
            }
        )
    rdtype = dns.rdatatype.to_text(dns.rdatatype.RdataType(qtype))
    records = [
        f"{d.service.name} {d.ttl.ttl} IN {dns.rdatatype.to_text(dns.rdatatype.RdataType(t))} {v}"
        for t, v in d.records
    ]
    return {
        "name": d.service.name,
        "type": rdtype,
        "client": loc.client.describe(),
        "service": {
            "key": d.key,
            "policy": d.service.policy,
            "all_down": d.service.all_down,
            "ttl_policy": d.service.ttl_policy,
        },
        "location": loc.location,
        "matched": loc.net,
        "order": list(sel.order),
        "order_from": sel.order_from,
        "regions": regions,
        "outcome": "SERVFAIL" if d.rcode == 2 else ("NOERROR" if records else "NODATA"),
        "all_down": sel.all_down,
        "why": sel.why,
        "answer": records,
        "ttl": d.ttl.ttl,
        "ttl_why": d.ttl.why
        if records
        else f"{d.ttl.why}; no records: the reply's SOA sets the negative TTL",
        "ecs_scope": d.scope,
        "ecs_scope_why": d.scope_why,
        "health": health,
    }


def explain(
    services: Services, name: str, qtype: int, client: Client, now: float, health: str
) -> dict[str, Any]:
    """Explain ``name``/``qtype`` for ``client``; raises ``ConfigError`` for a non-service name."""
    from lab.errors import ConfigError

    found = services.cfg.service_by_name(name)
    if found is None:
        known = ", ".join(s.name for s in services.cfg.services.values()) or "none"
        raise ConfigError(
            f"{name!r} is not a GeoDNS service (services: {known}); other names are plain zone data"
        )
    d = decide(services, found[0], client, qtype, now)
    return explain_decision(d, services, qtype, now, health)


def _region_line(n: int, r: dict[str, Any], width: int, dynamic: bool) -> str:
    state = r["state"] + (" (forced)" if r["forced"] else "")
    line = f"    {n}. {r['region']:<{width}}  {state:<13} {r['verdict']:<13} {r['why']}"
    if not r.get("assumed", True):
        line += f"; {r['state']} for {r['since_s_ago']:.1f}s"
    nxt = r["next_change_in_s"]
    if dynamic and nxt is not None and nxt > 0:
        line += f"; could change in {nxt:g}s"
    return line


def render(e: dict[str, Any]) -> str:
    """The explanation as text, one fact per line."""
    loc = e["location"] or "no location"
    matched = f"matched {e['matched']}" if e["matched"] else "no network matched"
    lines = [
        f"{e['name']} {e['type']} for {e['client']}",
        f"  location   {loc} ({matched})",
        f"  order      {e['order_from']} ({e['service']['policy']}): {' -> '.join(e['order'])}",
    ]
    width = max((len(r["region"]) for r in e["regions"]), default=8)
    dynamic = e["service"].get("ttl_policy") == "dynamic"
    lines.extend(_region_line(i, r, width, dynamic) for i, r in enumerate(e["regions"], 1))
    lines.append(f"  decision   {e['why']}")
    answer = e["answer"] or [f"({e['outcome']})"]
    lines.append(f"  answer     {answer[0]}")
    lines.extend(f"             {a}" for a in answer[1:])
    lines.append(f"  ttl        {e['ttl']} ({e['ttl_why']})")
    lines.append(f"  ecs scope  /{e['ecs_scope']} ({e['ecs_scope_why']})")
    lines.append(f"  health     {e['health']}")
    return "\n".join(lines)
