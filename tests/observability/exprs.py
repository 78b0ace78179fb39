"""Every PromQL expression the dashboards and rules ship, and Grafana's macros substituted.

Read from the generated files (what Grafana and Prometheus load), not from the builder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import yaml

from tests.conftest import REPO

DASHBOARDS = REPO / "observability" / "grafana" / "dashboards"
RULES = REPO / "observability" / "rules" / "dnslab.rules.yml"
METRIC = re.compile(r"\b(dnslab_[a-z0-9_:]*[a-z0-9])\b")


@dataclass(frozen=True)
class Expr:
    where: str  # "failover-drill: Clients on a dead region [A]" / "rule DnslabRegionDown"
    expr: str
    instant: bool = False


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for p in doc.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))  # rows
    return out


def dashboard_exprs() -> list[Expr]:
    return [e for name, doc in dashboards().items() for e in doc_exprs(name, doc)]


def doc_exprs(name: str, doc: dict[str, Any]) -> list[Expr]:
    out: list[Expr] = []
    for p in panels(doc):
        for t in p.get("targets", []):
            where = f"{name}: {p.get('title')} [{t.get('refId')}]"
            out.append(Expr(where, t["expr"], bool(t.get("instant"))))
    for a in doc.get("annotations", {}).get("list", []):
        target = a.get("target") or {}
        if "expr" in target:
            out.append(Expr(f"{name}: annotation {a['name']}", target["expr"]))
    for v in doc.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            out.append(Expr(f"{name}: variable {v['name']}", v["query"]["query"]))
    return out


def rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def rule_exprs() -> list[Expr]:
    return [Expr(f"rule {r.get('alert') or r.get('record')}", r["expr"]) for r in rules()]


def substitute(expr: str, rate_interval: str, range_: str, interval: str = "1s") -> str:
    from lab.prometheus import grafana_macros

    return grafana_macros(expr, rate_interval, range_, interval)


LABEL_VALUES = re.compile(r"^label_values\((?:(.+),\s*)?([a-z_]+)\)$")


def metric_names(expr: str) -> set[str]:
    return set(METRIC.findall(expr))
