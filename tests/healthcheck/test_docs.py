"""docs/healthcheck.md: the metric names it lists exist; the defaults it states are the code's."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry

from healthcheck.checker import CheckerMetrics
from healthcheck.settings import CheckSettings
from tests.conftest import REPO

DOC = (REPO / "docs/healthcheck.md").read_text()


def test_documented_metrics_exist() -> None:
    registry = CollectorRegistry()
    CheckerMetrics.create(registry)
    names = {m.name for m in registry.collect()}
    documented = set(re.findall(r"`(dnslab_healthcheck_[a-z_]+)`", DOC))
    assert documented, "no metric table"
    # prometheus_client strips _total from counter family names
    assert {d.removesuffix("_total") for d in documented} == names


def test_documented_defaults() -> None:
    s = CheckSettings()
    assert f"| `interval` | {s.interval:g} s |" in DOC
    assert f"| `fall` (to go down) | {s.fall} |" in DOC
    assert f"| `rise` (to come back) | {s.rise} |" in DOC
    assert "| `timeout` | interval / 2" in DOC and s.timeout is None
    assert f"| `initial` | `{s.initial}`" in DOC
