"""`dnslab up` without a drill: its page (and its stream) carries the lab's own health and answers
(lab/web/labwatch.py) as the typed events a drill publishes; a region SIGKILLed by PID shows
up as the checker's DOWN decision and the answer change for its location."""

from __future__ import annotations

import http.client
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from lab.procs import ProcessGroup, free_port, wait_for
from tests.conftest import DNSLAB
from tests.integration.test_up import lab_config, log_text, read_pids
from tests.web.test_stream import read_messages

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]


def test_up_page_streams_health_and_answers(
    procs: ProcessGroup, tmp_path: Path, browser: Any
) -> None:
    from lab.web.browser import console_errors

    cfg, _ = lab_config(tmp_path)
    port = free_port("127.0.0.1")
    up = procs.start(
        "up",
        [DNSLAB, "up", "--config", str(cfg), "--logs", str(tmp_path / "up"), "--web", f"127.0.0.1:{port}"],
    )  # fmt: skip
    wait_for(lambda: "lab ready:" in log_text(procs, "up"), 60, "dnslab up ready", proc=up.proc)
    assert f"live page: http://127.0.0.1:{port}/" in log_text(procs, "up")
    browser.get(f"http://127.0.0.1:{port}/")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/events")
    resp = conn.getresponse()
    [snap] = read_messages(resp, 1)
    doc = json.loads(snap["data"])
    assert doc["meta"]["source"] == "up" and set(doc["meta"]["regions"]) == {
        "us-east",
        "eu-west",
        "ap-south",
    }
    model = doc["model"]  # the page's model (lab/web/model.py); then the events
    seen: list[dict[str, Any]] = []

    def have(pred: Any) -> bool:
        while not any(pred(e) for e in seen):
            seen.append(json.loads(read_messages(resp, 1)[0]["data"]))
        return True

    run = model["runs"][0] if model["runs"] else {"health": {}, "answers": {}}
    for region in ("us-east", "eu-west", "ap-south"):
        if not any(d["up"] for d in run["health"].get(region, [])):
            have(lambda e, r=region: e["type"] == "CheckerDecision" and e["region"] == r and e["up"])  # fmt: skip
    for loc in ("na", "eu", "ap"):
        if loc not in run["answers"]:
            have(lambda e, loc=loc: e["type"] == "AnswerChanged" and e["location"] == loc)
    os.kill(read_pids(tmp_path / "up" / "logs")["region-eu-west"], signal.SIGKILL)
    have(lambda e: e["type"] == "CheckerDecision" and e["region"] == "eu-west" and not e["up"])
    have(
        lambda e: (
            e["type"] == "AnswerChanged"
            and e["location"] == "eu"
            and e["previous"]
            and "eu-west" not in e["regions"]
        )
    )
    seqs = [e["seq"] for e in seen]
    base = int(snap["id"].rpartition("-")[2])
    assert seqs == list(range(base + 1, base + len(seqs) + 1))
    # the page drew the same: the region's DOWN decision and eu's new answer
    wait_for(
        lambda: (
            "eu-west DOWN"
            in browser.execute_script("return document.getElementById('log').textContent")
        ),
        10,
        "the page showing eu-west DOWN",
    )
    answers = (
        "return Object.fromEntries([...document.querySelectorAll('#answers tbody tr')]"
        ".map(r => [r.dataset.location, r.dataset.regions]))"
    )
    wait_for(
        lambda: (
            (rows := browser.execute_script(answers)).keys() == {"na", "eu", "ap"}
            and "eu-west" not in rows["eu"]
        ),
        10,
        "the page showing eu's answer off eu-west",
    )
    assert console_errors(browser) == []
    conn.close()
    os.kill(up.pid, signal.SIGTERM)
    assert up.proc.wait(timeout=30) == 0
