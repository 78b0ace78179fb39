"""The page's SSE stream (lab/web/server.py) over real loopback HTTP: snapshot on connect,
event ids, Last-Event-ID resume, a foreign id gets a snapshot, ``end`` when the hub closes."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from lab.drill import events as ev
from lab.errors import ConfigError
from lab.web.hub import EventHub
from lab.web.server import WebServer, parse_web_listen

pytestmark = pytest.mark.integration


def read_messages(resp: http.client.HTTPResponse, n: int) -> list[dict[str, str]]:
    """The next ``n`` SSE messages (comments and the retry field skipped)."""
    out: list[dict[str, str]] = []
    msg: dict[str, str] = {}
    while len(out) < n:
        line = resp.readline().decode()
        assert line, f"stream ended after {out}"
        line = line.rstrip("\n")
        if not line:
            if "data" in msg:
                out.append(msg)
            msg = {}
            continue
        if line.startswith(":"):
            continue
        key, _, value = line.partition(": ")
        msg[key] = value
    return out


@pytest.fixture
def served() -> Iterator[tuple[EventHub, WebServer]]:
    hub = EventHub({"regions": ["eu-west", "us-east"]})
    server = WebServer("127.0.0.1", 0, hub).start()
    yield hub, server
    hub.close()
    server.stop()


def get(
    server: WebServer, path: str, headers: dict[str, str] | None = None
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=5)
    conn.request("GET", path, headers=headers or {})
    return conn.getresponse()


def fault(at: float) -> ev.FaultInjected:
    return ev.FaultInjected(at, "eu-west", "kill", "kill")


def test_snapshot_then_events_with_ids(served: tuple[EventHub, WebServer]) -> None:
    hub, server = served
    hub.publish(fault(1.0))
    resp = get(server, "/events")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    [snap] = read_messages(resp, 1)
    assert snap["event"] == "snapshot" and snap["id"] == f"{hub.boot}-1"
    doc = json.loads(snap["data"])
    assert doc["meta"]["regions"] == ["eu-west", "us-east"]
    assert doc["model"]["cards"]["fault"] == {"text": "fault: kill eu-west at 1.00 s", "seq": 1}
    assert "events" not in doc  # the page's model, not the events (lab/web/model.py)
    hub.publish(ev.CheckerDecision(2.0, "eu-west", False, "checker", "3 failures"))
    [msg] = read_messages(resp, 1)
    assert msg["id"] == f"{hub.boot}-2" and "event" not in msg
    body = json.loads(msg["data"])
    assert body["type"] == "CheckerDecision" and body["up"] is False and body["seq"] == 2
    paths = [op["path"] for op in body["patch"]]
    assert "/runs/0/health/eu-west/-" in paths and "/cards/decision" in paths


def test_last_event_id_resumes_without_gap_or_repeat(served: tuple[EventHub, WebServer]) -> None:
    hub, server = served
    for i in range(5):
        hub.publish(fault(float(i)))
    resp = get(server, "/events", {"Last-Event-ID": f"{hub.boot}-3"})
    msgs = read_messages(resp, 2)
    assert [m["id"] for m in msgs] == [f"{hub.boot}-4", f"{hub.boot}-5"]
    assert all("event" not in m for m in msgs)  # no snapshot on a resume


@pytest.mark.parametrize("last", ["someoneelse-2", "garbage", "BOOT-99"])
def test_an_id_of_another_stream_gets_a_snapshot(
    served: tuple[EventHub, WebServer], last: str
) -> None:
    hub, server = served
    hub.publish(fault(1.0))
    resp = get(server, "/events", {"Last-Event-ID": last.replace("BOOT", hub.boot)})
    [snap] = read_messages(resp, 1)
    assert snap["event"] == "snapshot" and snap["id"] == f"{hub.boot}-1"
    assert json.loads(snap["data"])["model"]["runs"][0]["fault_at"] == 1.0


def test_an_id_no_longer_kept_gets_a_snapshot() -> None:
    """The hub keeps the last ``keep`` events for resumes; an older id gets the model."""
    hub = EventHub({}, keep=3)
    server = WebServer("127.0.0.1", 0, hub).start()
    try:
        for i in range(6):
            hub.publish(fault(float(i)))
        assert hub.first_kept == 4
        resp = get(server, "/events", {"Last-Event-ID": f"{hub.boot}-3"})  # 4.. kept: resume
        assert [m["id"] for m in read_messages(resp, 3)] == [f"{hub.boot}-{i}" for i in (4, 5, 6)]
        resp = get(server, "/events", {"Last-Event-ID": f"{hub.boot}-2"})  # 3 is gone
        [snap] = read_messages(resp, 1)
        assert snap["event"] == "snapshot" and snap["id"] == f"{hub.boot}-6"
        assert len(json.loads(snap["data"])["model"]["runs"][0]["marks"]) == 6
    finally:
        hub.close()
        server.stop()


def test_end_when_the_hub_closes(served: tuple[EventHub, WebServer]) -> None:
    hub, server = served
    resp = get(server, "/events")
    read_messages(resp, 1)
    hub.close()
    [end] = read_messages(resp, 1)
    assert end["event"] == "end"


def test_page_and_static_files(served: tuple[EventHub, WebServer]) -> None:
    _, server = served
    page = get(server, "/")
    assert page.status == 200 and b"/static/app.js" in page.read()
    for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css")):
        resp = get(server, f"/static/{name}")
        assert resp.status == 200 and resp.headers["Content-Type"].startswith(ctype)
        resp.read()
    assert json.loads(get(server, "/meta.json").read())["mode"] == "live"
    for path in ("/static/../hub.py", "/results.json", "/model.json", "/nothing"):
        resp = get(server, path)
        assert resp.status == 404, path
        resp.read()


@pytest.mark.parametrize(
    ("text", "problem"),
    [("8787", "HOST:PORT"), ("0.0.0.0:8787", "loopback"), ("127.0.0.1:70000", "HOST:PORT")],
)
def test_bad_web_flag(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse_web_listen(text)
