"""Metric names follow dnslab_<component>_<thing>_<unit> (shared/STYLE.md), for every component.

The unit of a counter is ``_total``; of a histogram ``_seconds`` (durations); of a gauge its
last word: a base unit (seconds, bytes, ratio), the thing it counts (clients, entries,
subscribers, connections) or a 0/1 state (up, active, forced, expired). Labels are of bounded cardinality (never a
client address or a query name). The live test (tests/integration/test_observability_live.py)
applies the same rule to every name a real Prometheus scraped from a running lab and drill.
"""

from __future__ import annotations

import re

from tests.observability.components import COMPONENTS, families

GAUGE_UNITS = {"seconds", "bytes", "ratio", "clients", "connections", "entries", "subscribers",
               "up", "active", "forced", "expired"}  # fmt: skip
BOUNDED_LABELS = {
    "checker", "region", "outcome", "state", "status", "kind", "fault", "transport", "qtype",
    "rcode", "service", "location", "scenario", "ttl", "profile", "action", "reason", "le",
}  # fmt: skip
NAME = re.compile(rf"dnslab_({'|'.join(COMPONENTS)})_[a-z][a-z0-9_]*[a-z0-9]")


def problems(name: str, kind: str, sample_names: set[str], labels: set[str]) -> list[str]:
    out = []
    if not NAME.fullmatch(name):
        out.append(f"{name}: not dnslab_<component>_<thing>_<unit> ({', '.join(COMPONENTS)})")
    if kind == "counter":
        if name.endswith("_total") or not all(
            s.endswith(("_total", "_created")) for s in sample_names
        ):
            out.append(f"{name}: a counter's samples end in _total (the family name does not)")
    elif kind == "histogram":
        if not name.endswith("_seconds"):
            out.append(f"{name}: histograms here are durations in seconds (_seconds)")
    elif kind == "gauge":
        if name.rsplit("_", 1)[-1] not in GAUGE_UNITS:
            out.append(f"{name}: a gauge ends in its unit ({', '.join(sorted(GAUGE_UNITS))})")
    else:
        out.append(f"{name}: type {kind} is not used here")
    if labels - BOUNDED_LABELS:
        out.append(f"{name}: labels {sorted(labels - BOUNDED_LABELS)} are not known bounded ones")
    return out


def test_every_component_is_covered() -> None:
    found = {comp for comp, _m in families().values()}
    assert found == set(COMPONENTS)


def test_names_units_and_labels() -> None:
    bad: list[str] = []
    for name, (_comp, m) in families().items():
        samples = {s.name for s in m.samples}
        labels = {k for s in m.samples for k in s.labels}
        bad += problems(name, m.type, samples, labels)
    assert bad == []


def test_the_rule_can_fail() -> None:
    assert problems("dnslab_authoritative_cache_size", "gauge", set(), set())
    assert problems("dnslab_resolver_queries_total", "counter", {"x_total"}, set())
    assert problems("dnslab_drill_window", "histogram", set(), set())
    assert problems("dnslab_drill_requests", "counter", {"dnslab_drill_requests_total"}, {"client"})
    assert problems("geo_answers", "counter", {"geo_answers_total"}, set())
