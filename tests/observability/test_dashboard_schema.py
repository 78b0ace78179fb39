"""The dashboards validate against Grafana's maintained schema (``@grafana/schema``, npm).

``observability/grafana/schema/check.py`` types every dashboard as ``Dashboard`` and every
panel as ``Panel`` with its plugin's options, and compiles with ``tsc --strict``. It needs the
npm packages of ``observability/grafana/schema/package-lock.json`` (``npm ci`` there; .ci/run
does): missing, the test skips locally and fails under DNSLAB_REQUIRE_SYSTEM_TOOLS=1.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO

SCHEMA = REPO / "observability" / "grafana" / "schema"
pytestmark = pytest.mark.slow  # tsc takes seconds


def checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dnslab_schema_check", SCHEMA / "check.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    if not mod.TSC.exists():
        msg = f"{mod.TSC} missing: run `npm ci` in {SCHEMA} (.ci/run does)"
        if os.environ.get("DNSLAB_REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail(msg + " and DNSLAB_REQUIRE_SYSTEM_TOOLS=1")
        pytest.skip(msg)
    return mod


def test_dashboards_match_grafana_schema(tmp_path: Path) -> None:
    check = checker()
    docs = check.load()
    assert set(docs) == {"failover-drill", "resolver", "authoritative"}
    proc = check.check(docs, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_broken_dashboard_is_refused(tmp_path: Path) -> None:
    check = checker()
    docs = copy.deepcopy(check.load())
    docs["resolver"]["panels"][0]["options"]["legend"]["placement"] = "middle"  # no such value
    docs["resolver"]["panels"][1]["gridPos"]["w"] = "12"  # a string, not a number
    docs["authoritative"]["panels"][0]["options"]["legendd"] = {}  # unknown option
    docs["failover-drill"]["templating"]["list"][0]["nmae"] = "x"  # unknown variable field
    del docs["resolver"]["schemaVersion"]  # required
    proc = check.check(docs, tmp_path)
    out = proc.stdout
    assert proc.returncode != 0
    for needle in ('"middle"', "'string' is not assignable to type 'number'", '"legendd"',
                   '"nmae"', "schemaVersion"):  # fmt: skip
        assert needle in out, (needle, out)
