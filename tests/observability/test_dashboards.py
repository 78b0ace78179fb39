"""The dashboards: built from their one source, and held to the rules of Grafana's
dashboard-linter that apply here (datasource variable, panel datasource, $__rate_interval in
rate(), counters only inside rate/increase, units, titles) plus descriptions, and every metric
they or the rules name exists in code.

The linter itself (a Go program) is not installable here, so its rules are re-stated as
checks over the generated JSON; each check is shown to fail on a broken example.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO
from tests.observability.components import exposed_names
from tests.observability.exprs import (
    LABEL_VALUES,
    METRIC,
    Expr,
    dashboard_exprs,
    dashboards,
    doc_exprs,
    metric_names,
    panels,
    rule_exprs,
    rules,
)

RANGE_FN = re.compile(r"\b(rate|irate|increase)\(([^\[]*)\[([^\]]+)\]")


@functools.cache
def build_module() -> ModuleType:
    """observability/grafana/build.py (a script, not a package module)."""
    path = REPO / "observability/grafana/build.py"
    spec = importlib.util.spec_from_file_location("dnslab_dashboards_build", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_json_is_what_the_builder_makes() -> None:
    build = build_module()
    assert set(build.DASHBOARDS) == set(dashboards())
    for name in build.DASHBOARDS:
        path = REPO / "observability/grafana/dashboards" / f"{name}.json"
        assert path.read_text() == build.render(name), f"{path}: run observability/grafana/build.py"


def test_current_schema_version() -> None:
    current = build_module().dm.Dashboard().schema_version
    assert current >= 41
    for name, doc in dashboards().items():
        assert doc["schemaVersion"] == current, name


def panel_problems(doc: dict[str, Any], name: str = "d") -> list[str]:
    out: list[str] = []
    variables = {v["name"]: v for v in doc.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if ds is None or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        out.append("no Prometheus datasource variable named 'datasource'")
    if not doc.get("title") or not doc.get("uid"):
        out.append("dashboard without title or uid")
    titles: set[str] = set()
    for p in panels(doc):
        t = p.get("title", "")
        if not t:
            out.append(f"panel {p.get('id')}: no title")
        if t in titles:
            out.append(f"{t}: duplicate title")
        titles.add(t)
        if not p.get("description"):
            out.append(f"{t}: no description")
        if not p.get("fieldConfig", {}).get("defaults", {}).get("unit"):
            out.append(f"{t}: no unit")
        refs = [p.get("datasource") or {}] + [
            q.get("datasource") or {} for q in p.get("targets", [])
        ]
        if any(r.get("uid") != "${datasource}" for r in refs):
            out.append(f"{t}: datasource is not the $datasource variable")
        if not p.get("targets"):
            out.append(f"{t}: no query")
    for e in doc_exprs(name, doc):
        used = set(re.findall(r"\$\{?([a-z][a-z_]*)\}?", e.expr))
        if used - set(variables) - {"__rate_interval", "__interval", "__range"}:
            out.append(f"{e.where}: undefined variables {sorted(used - set(variables))}")
    return out


def expr_problems(e: Expr, counters: set[str]) -> list[str]:
    out: list[str] = []
    for m in RANGE_FN.finditer(e.expr):
        fn, window = m.group(1), m.group(3)
        over_range = fn == "increase" and window == "$__range" and e.instant
        if window != "$__rate_interval" and not over_range and not e.where.startswith("rule "):
            out.append(f"{e.where}: {fn}() over [{window}], not [$__rate_interval]")
    for m in METRIC.finditer(e.expr):
        if m.group(1) in counters:
            before = e.expr[: m.start()]
            if not re.search(r"\b(rate|irate|increase)\(\s*$", before):
                out.append(f"{e.where}: counter {m.group(1)} outside rate()/increase()")
    return out


def counter_names() -> set[str]:
    return {n for n, t in exposed_names().items() if t in ("counter", "histogram")} - {
        n
        for n, t in exposed_names().items()
        if t == "histogram" and not n.endswith(("_bucket", "_count", "_sum"))
    }


def test_linter_rules_hold() -> None:
    bad = [p for name, doc in dashboards().items() for p in panel_problems(doc, name)]
    counters = counter_names()
    for e in dashboard_exprs() + rule_exprs():
        if e.where.split(": ")[-1].startswith("variable"):
            continue  # label_values() names a metric, it does not compute on it
        bad += expr_problems(e, counters)
    assert bad == []


def test_the_lint_checks_can_fail() -> None:
    counters = counter_names()
    assert expr_problems(Expr("d: p", "rate(dnslab_drill_requests_total[5m])"), counters)
    assert expr_problems(Expr("d: p", "sum(dnslab_drill_requests_total)"), counters)
    assert expr_problems(
        Expr("d: p", "dnslab_authoritative_query_duration_seconds_count"), counters
    )
    assert not expr_problems(
        Expr("d: p", "rate(dnslab_drill_requests_total[$__rate_interval])"), counters
    )
    broken = {"title": "x", "uid": "x", "templating": {"list": []},
              "panels": [{"title": "p", "targets": [{"expr": "up", "datasource": {"uid": "prom"}}]}]}  # fmt: skip
    found = panel_problems(broken)
    assert any("datasource variable" in p for p in found)
    assert any("no unit" in p for p in found) and any("no description" in p for p in found)
    assert any("not the $datasource" in p for p in found)
    untitled = {**broken, "title": "", "panels": [{}, {"title": "p"}, {"title": "p"}]}
    found = panel_problems(untitled)
    assert any("without title" in p for p in found) and any(": no title" in p for p in found)
    assert any("duplicate title" in p for p in found)


def test_every_metric_named_exists_in_code() -> None:
    known = set(exposed_names()) | {r["record"] for r in rules() if "record" in r}
    missing = []
    for e in dashboard_exprs() + rule_exprs():
        missing += [f"{e.where}: {n}" for n in sorted(metric_names(e.expr) - known)]
        lv = LABEL_VALUES.match(e.expr)
        if lv and lv.group(1):
            missing += [f"{e.where}: {n}" for n in sorted(metric_names(lv.group(1)) - known)]
    assert missing == []


@pytest.mark.parametrize("rule", [r for r in rules() if "alert" in r], ids=lambda r: r["alert"])
def test_alerts_say_what_and_how_bad(rule: dict[str, Any]) -> None:
    assert rule["annotations"].get("summary") and rule["annotations"].get("description")
    assert rule["labels"].get("severity") in ("page", "warning")
    assert re.fullmatch(r"Dnslab[A-Z][A-Za-z]+", rule["alert"])
