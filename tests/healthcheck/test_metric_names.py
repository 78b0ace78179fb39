"""Every metric of the checker and of a region follows the house naming rules."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

from healthcheck.checker import CheckerMetrics
from regions.app import RegionRuntime

BOUNDED_LABELS = {"checker", "region", "outcome", "state", "status", "kind", "fault"}


def families() -> list[Metric]:
    registry = CollectorRegistry()
    CheckerMetrics.create(registry)
    RegionRuntime("eu-west", registry)
    return list(registry.collect())


def test_names_units_and_labels() -> None:
    found = families()
    assert len(found) == 7
    for m in found:
        assert re.fullmatch(r"dnslab_(healthcheck|region)_[a-z_]+", m.name), m.name
        if m.type == "counter":
            assert not m.name.endswith("_total")  # the family name; samples end in _total
            assert all(s.name.endswith(("_total", "_created")) for s in m.samples)
        if m.type == "histogram":
            assert m.name.endswith("_seconds"), m.name
        for s in m.samples:
            assert set(s.labels) - {"le"} <= BOUNDED_LABELS, s.labels
