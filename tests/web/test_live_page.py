"""The live page in headless Chromium during a real live drill (issue 14's acceptance).

The page loads before the drill starts; the fault, the checker's decision and the answer
change must each be drawn within 1 s of being published; then the server side of the stream
is stopped and a new one started on the same port while the drill keeps publishing: the
page must resume by ``Last-Event-ID`` (no second snapshot) and end up with every event
exactly once. Any JavaScript console error fails the test. A second page opened once the
drill has ended gets the page's model as its snapshot (no events) and must hold the same model
and draw the same panels as the page that followed the drill from the start.
"""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from lab.drill.runner import DrillOptions, run_drill
from lab.procs import wait_for
from lab.web.hub import EventHub
from lab.web.server import WebServer

pytestmark = [pytest.mark.integration, pytest.mark.system, pytest.mark.slow]

LATENCY_S = 1.0

SCENARIO = """
name = "web"
ttls = [2]
clients = 20
request_interval = 0.2
tail = 1.5
[locations]
eu = 0.6
na = 0.4
[profiles]
"honours-ttl" = 3
"serve-stale" = 1
[checks]
interval = 0.5
fall = 3
rise = 2
timeout = 0.4
[[faults]]
at = 3.0
action = "kill"
region = "busiest"
"""


def page(browser: Any, expr: str) -> Any:
    return browser.execute_script(f"return {expr}")


def events(hub: EventHub) -> list[dict[str, Any]]:
    return [json.loads(line) for line in hub.since(0, 0)[0]]


def first(hub: EventHub, pred: Any) -> dict[str, Any] | None:
    return next((e for e in events(hub) if pred(e)), None)


PANELS = ("runinfo", "runs", "marks", "health", "answers", "share", "failed", "failed-total",
          "windows", "windows-note", "log")  # fmt: skip


def rendered(browser: Any) -> dict[str, Any]:
    """The page's model and what it drew of it (each panel's HTML), once it has drawn."""
    wait_for(lambda: page(browser, "window.dnslab.drawn") is True, 10, "the page drawing")
    out: dict[str, Any] = {"model": page(browser, "window.dnslab.model")}
    for name in PANELS:
        out[name] = page(browser, f"document.getElementById('{name}').innerHTML")
    return out


def test_live_drill_in_the_browser(tmp_path: Path, browser: Any) -> None:
    from lab.web.browser import console_errors

    scenario = tmp_path / "web.toml"
    scenario.write_text(SCENARIO)
    hub = EventHub({"regions": ["eu-west", "us-east", "ap-south"], "title": "test"})
    server = WebServer("127.0.0.1", 0, hub).start()
    browser.get(server.url)
    wait_for(lambda: page(browser, "window.dnslab.snapshots") == 1, 10, "the page's snapshot")

    result: dict[str, int] = {}
    opts = DrillOptions(scenario=scenario, out=tmp_path / "out", sinks=(hub,))
    drill = threading.Thread(
        target=lambda: result.setdefault("rc", run_drill(opts, io.StringIO(), io.StringIO())),
        daemon=True,
    )
    drill.start()
    try:
        # each mark: published by the drill, then drawn by the page within LATENCY_S
        checks = {
            "fault": lambda e: e["type"] == "FaultInjected",
            "decision": lambda e: e["type"] == "CheckerDecision" and not e["up"],
            "answer": lambda e: e["type"] == "AnswerChanged",
        }
        seen: dict[str, dict[str, Any]] = {}
        for name, pred in checks.items():
            wait_for(lambda p=pred: first(hub, p) is not None, 60, f"the drill's {name} event")  # type: ignore[misc]
            e = first(hub, pred)
            assert e is not None
            wait_for(
                lambda e=e: page(browser, f"window.dnslab.shown[{e['seq']}]") is not None,  # type: ignore[misc]
                10,
                f"the page drawing the {name}",
            )
            shown_ms = page(browser, f"window.dnslab.shown[{e['seq']}]")
            lag = shown_ms / 1000 - e["wall"]
            print(f"{name}: seq {e['seq']} drawn {lag * 1000:.0f} ms after it was published")
            assert lag <= LATENCY_S, f"{name} drawn {lag:.2f}s after it happened"
            seen[name] = e
        fault, decision, answer = seen["fault"], seen["decision"], seen["answer"]
        assert decision["region"] == fault["region"]
        assert fault["region"] not in answer["regions"]
        marks = page(browser, "[...document.querySelectorAll('.mark')].map(m => m.textContent)")
        assert any(f"{fault['action']} {fault['region']}" in m for m in marks), marks
        assert any(f"{fault['region']} DOWN" in m for m in marks), marks
        log = page(browser, "document.getElementById('log').textContent")
        assert f"answer for {answer['location']}" in log

        # restart the server side of the stream while the drill keeps publishing
        port, cut_at = server.port, hub.last_seq
        server.stop()
        wait_for(
            lambda: hub.last_seq >= cut_at + 20, 10, "events published while the stream is down"
        )
        server = WebServer("127.0.0.1", port, hub).start()
        wait_for(
            lambda: page(browser, "window.dnslab.seqs.length") > hub.last_seq - 5 > cut_at + 20,
            10,
            "the page resuming",
        )

        drill.join(timeout=90)
        assert not drill.is_alive() and result.get("rc") == 0
        hub.close()
        wait_for(
            lambda: page(browser, "window.dnslab.ended") is True, 10, "the page's end of stream"
        )
        seqs = page(browser, "window.dnslab.seqs")
        assert page(browser, "window.dnslab.snapshots") == 1  # resumed, not reloaded
        assert page(browser, "window.dnslab.base") == 0  # its snapshot: before the drill
        assert seqs == list(range(1, hub.last_seq + 1)), "events missing or twice on the page"
        assert any(e["type"] == "WindowClosed" for e in events(hub))
        bars = page(browser, "document.querySelectorAll('#windows rect.hbar:not(.live)').length")
        assert bars > 0  # the measured window distribution is drawn
        assert console_errors(browser) == []

        # a page opened now gets the model as a snapshot and draws what the early page drew
        early = rendered(browser)
        assert early["model"] == json.loads(json.dumps(hub.model.doc))
        browser.switch_to.new_window("tab")
        browser.get(server.url)
        wait_for(lambda: page(browser, "window.dnslab.ended") is True, 10, "the late page")
        assert page(browser, "window.dnslab.base") == hub.last_seq
        assert page(browser, "window.dnslab.seqs") == []  # nothing replayed: the model only
        late = rendered(browser)
        for key, value in early.items():
            assert late[key] == value, f"the late page's {key} differs from the early page's"
        assert console_errors(browser) == []
    finally:
        hub.close()
        drill.join(timeout=90)
        server.stop()
