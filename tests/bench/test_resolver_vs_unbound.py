"""Smoke tests of bench/resolver_vs_unbound.py: options, the report's ratios, /proc CPU of a
process tree (no DNS servers started)."""

from __future__ import annotations

import os
from types import ModuleType

import pytest

from tests.bench import load_script


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_script("resolver_vs_unbound")


def test_defaults_and_bad_values(bench: ModuleType) -> None:
    args = bench.parse_args([])
    assert (args.duration, args.rounds, args.clients, args.workers) == (5, 3, 4, 1)
    assert not args.scaling and not args.ecs
    with pytest.raises(SystemExit):
        bench.parse_args(["--workers", "0"])


def test_report_ratios_per_round_and_scaling(bench: ModuleType) -> None:
    run = bench.Run
    runs = [
        run("unbound", 1, 100_000.0, 2.0, 0, "NOERROR 1"),
        run("dnslab", 1, 50_000.0, 4.0, 0, "NOERROR 1"),
        run("unbound", 2, 150_000.0, 2.0, 0, "NOERROR 1"),
        run("dnslab", 2, 90_000.0, 4.5, 0, "NOERROR 1"),
    ]
    text = bench.report(runs)
    assert "workers 1: dnslab/Unbound q/s per round 0.50 (median 0.50)" in text
    assert "Unbound CPU/query ÷ dnslab's (1.0 = as cheap) 0.50" in text
    assert "workers 2: dnslab/Unbound q/s per round 0.60" in text
    assert "dnslab scaling 1 -> 2 workers: 1.80x" in text
    assert "unbound scaling 1 -> 2 workers: 1.50x" in text


def test_tree_cpu_counts_this_process(bench: ModuleType) -> None:
    helpers = bench._dnsperf_helpers()
    assert bench.tree_cpu_seconds(helpers, os.getpid()) > 0
