"""``dnslab view DIR`` in headless Chromium: the page renders a finished drill's and a finished
sweep's results.json (the sweep's trade-off curve), with no JavaScript console error."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lab.drill.runner import DrillOptions, run_drill
from lab.errors import ConfigError
from lab.procs import free_port, wait_for
from lab.web.cli import results_file
from lab.web.model import view_model
from lab.web.server import WebServer

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]


@contextlib.contextmanager
def viewing(browser: Any, results: Path) -> Iterator[None]:
    """``results`` served as ``dnslab view`` does, loaded in ``browser`` and drawn."""
    server = WebServer("127.0.0.1", 0, results=results).start()
    try:
        browser.get(server.url)
        wait_for(
            lambda: browser.execute_script("return window.dnslab.viewed") is not None, 10, "view"
        )
        yield
    finally:
        server.stop()


def test_drill_results(tmp_path: Path, browser: Any) -> None:
    from lab.web.browser import console_errors

    out = tmp_path / "drill"
    assert (
        run_drill(DrillOptions(ttls=[5, 15], out=out, sim=True), io.StringIO(), io.StringIO()) == 0
    )
    doc = json.loads((out / "results.json").read_text())
    with viewing(browser, results_file(out)):
        js = browser.execute_script
        assert js("return window.dnslab.viewed") == "dnslab.drill.results/1"
        assert js("return document.querySelectorAll('#runs button').length") == 2  # one per TTL
        run = doc["runs"][0]
        bars = js(
            "return [...document.querySelectorAll('#windows rect.hbar')].map(r => r.getAttribute('height'))"
        )
        assert bars and run["client_windows"]
        assert js("return document.querySelector('#share path.series') !== null")
        assert run["dead_region"] in js("return document.getElementById('mark-fault').textContent")
        rows = js(
            "return [...document.querySelectorAll('#answers tbody tr')].map(r => r.dataset.location)"
        )
        assert rows == sorted(run["by_location"])
        assert console_errors(browser) == []


def test_sweep_tradeoff(tmp_path: Path, browser: Any) -> None:
    from lab.web.browser import console_errors

    out = tmp_path / "sweep"
    subprocess.run(
        [sys.executable, "-m", "lab.cli", "sweep", "--ttl", "5,30,120", "--interval", "0.5,2",
         "--clients", "100", "--replicates", "2", "--no-client-rows", "--out", str(out)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    doc = json.loads((out / "results.json").read_text())
    with viewing(browser, results_file(out / "results.json")):
        js = browser.execute_script
        assert js("return window.dnslab.viewed") == "dnslab.sweep.results/1"
        labels = js(
            "return [...document.querySelectorAll('#tradeoff text.lbl')].map(t => t.textContent)"
        )
        assert labels == [c["label"] for c in doc["cells"]]
        # the curve: higher TTL, fewer queries/s (points further left) and longer windows (higher)
        pts = js(
            "return [...document.querySelectorAll('#tradeoff circle')].map(c => [+c.getAttribute('cx'), +c.getAttribute('cy')])"
        )
        assert [c["params"]["interval"] for c in doc["cells"]] == [0.5] * 3 + [2.0] * 3
        assert len(pts) == 6
        for a, b, c in (pts[0:3], pts[3:6]):  # per interval, along the TTL
            assert a[0] > b[0] > c[0] and a[1] > b[1] > c[1]
        # one curve per interval, TTL along it: no line joins cells of different intervals
        paths = js(
            "return [...document.querySelectorAll('#tradeoff path.series')].map(p => p.getAttribute('d'))"
        )
        assert len(paths) == 2 and all(d.count("L") == 2 for d in paths), paths
        assert js("return document.querySelectorAll('#cells tbody tr').length") == 6
        head = js("return document.querySelector('#cells thead').textContent")
        assert "window_mean_s" in head and "queries_per_client_hour" in head
        assert console_errors(browser) == []


def test_view_refuses_other_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        results_file(tmp_path)
    (tmp_path / "results.json").write_text('{"schema": "something/9"}')
    with pytest.raises(ConfigError, match="something/9"):
        results_file(tmp_path)
    (tmp_path / "results.json").write_text("not json")
    with pytest.raises(ConfigError, match=r"not a results\.json"):
        results_file(tmp_path)


def test_view_command_serves_the_page(tmp_path: Path) -> None:
    """`dnslab view DIR` as a process: prints its URL, serves results.json, stops on SIGTERM."""
    import urllib.request

    out = tmp_path / "drill"
    assert run_drill(DrillOptions(ttls=[5], out=out, sim=True), io.StringIO(), io.StringIO()) == 0
    port = free_port("127.0.0.1")
    with subprocess.Popen(
        [sys.executable, "-m", "lab.cli", "view", str(out), "--web", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert f"http://127.0.0.1:{port}/" in line and "results.json" in line
            results = json.loads((out / "results.json").read_text())
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/results.json", timeout=5) as r:
                assert json.loads(r.read()) == results
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/model.json", timeout=5) as r:
                model = json.loads(r.read())  # the page's model (lab/web/model.py) of the drill
            assert model == json.loads(json.dumps(view_model(results)))
            assert model["runs"][0]["windows"]["n"] == results["runs"][0]["clients_affected"]
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


def test_no_page_model_for_a_sweep(tmp_path: Path) -> None:
    """/model.json is a drill's page model; for a sweep's results.json it is a 404."""
    import urllib.error
    import urllib.request

    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema": "dnslab.sweep.results/1", "cells": []}))
    server = WebServer("127.0.0.1", 0, results=path).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.url}model.json", timeout=5)
        err.value.close()  # the response it holds
        assert err.value.code == 404 and "sweep" in str(err.value.reason)
    finally:
        server.stop()
