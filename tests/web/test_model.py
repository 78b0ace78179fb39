"""The live page's model (lab/web/model.py): what a late page gets (the snapshot) against what an
early page builds (the snapshot at connect + every event's JSON Patch, applied by the
``jsonpatch`` library as the RFC 6902 oracle), the model against the drill's own results.json,
and the snapshot's size against what it holds (the caps), not the number of events.

Mutations that turn these red (tried): an operation's value not copied when it is recorded
(``PageModel._add``: a run's first log line then arrives twice on an early page); the snapshot
carrying the events again (the size test); ``KEEP`` not enforced (the bound and the caps); a
client's earlier window not uncounted (``WindowHistogram.add(old, -1)`` dropped). In Chromium
(test_live_page.py): one event's patch skipped by the page, or ``add`` not replacing a member.
The share rule itself is ``measure.LatestRegions`` (tests/lab/test_drill_measure.py)."""

from __future__ import annotations

import copy
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import pytest

from lab.drill import events as ev
from lab.drill.runner import DrillOptions, run_drill
from lab.web.hub import EventHub
from lab.web.model import BIN, KEEP, WindowHistogram, view_model

pytestmark = pytest.mark.integration  # a simulated drill (no sockets), a few seconds


@dataclass
class Snapshots:
    """A sink after the hub: the snapshot document after every ``every``-th event and after
    each event that is no client's request or resolution (runs, faults, decisions, windows)."""

    hub: EventHub
    every: int
    taken: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    def publish(self, event: ev.DrillEvent) -> None:
        client = isinstance(event, ev.ClientRequest | ev.ClientResolved | ev.WindowClosed)
        if self.hub.last_seq % self.every == 0 or not client:
            seq, doc = self.hub.snapshot()
            self.taken.append((seq, json.loads(doc)))


def sim_drill(tmp_path: Path, clients: int, *sinks: ev.EventSink) -> dict[str, Any]:
    """A simulated two-TTL drill of ``clients`` clients, 10 s per run; its results.json."""
    opts = DrillOptions(
        ttls=[5, 15], clients=clients, sim=True, out=tmp_path, sinks=sinks, duration=10.0,
        request_rows=False,
    )  # fmt: skip
    assert run_drill(opts, io.StringIO(), io.StringIO()) == 0
    results: dict[str, Any] = json.loads((tmp_path / "results.json").read_text())
    return results


def messages(hub: EventHub) -> list[dict[str, Any]]:
    lines, _ = hub.since(0, 0)
    assert lines is not None and len(lines) == hub.last_seq, "the test's hub keeps every event"
    return [json.loads(line) for line in lines]


def test_a_late_page_gets_what_an_early_page_built(tmp_path: Path) -> None:
    hub = EventHub({"regions": ["eu-west", "us-east", "ap-south"]}, keep=10**7)
    early = json.loads(hub.snapshot()[1])  # a page open before the drill: an empty model
    snaps = Snapshots(hub, every=499)
    sim_drill(tmp_path, 60, hub, snaps)
    msgs = messages(hub)
    assert len(snaps.taken) >= 20
    model = early["model"]
    types = {t.__name__ for t in ev.EVENT_TYPES}
    for seq, m in enumerate(msgs, 1):
        assert m["seq"] == seq and m["type"] in types  # the typed events, numbered
        model = jsonpatch.apply_patch(model, m["patch"], in_place=True)
    final = json.loads(hub.snapshot()[1])["model"]
    assert model == final == json.loads(json.dumps(hub.model.doc))
    # a page that connects at any point: its snapshot + the later patches = the early page
    for seq, snap in snaps.taken:
        late = copy.deepcopy(snap["model"])
        for m in msgs[seq:]:
            late = jsonpatch.apply_patch(late, m["patch"], in_place=True)
        assert late == final, f"a page connected at seq {seq} differs"
    assert [r["ttl"] for r in final["runs"]] == [5, 15] and all(
        r["finished"] for r in final["runs"]
    )


def test_the_model_is_the_drills_own_numbers(tmp_path: Path) -> None:
    """The fold against results.json (measure.py, computed from the observations)."""
    hub = EventHub({}, keep=10)
    results = sim_drill(tmp_path, 200, hub)
    model = hub.model.doc
    viewed = view_model(results)
    for r, res, v in zip(model["runs"], results["runs"], viewed["runs"], strict=True):
        assert r["requests"] == res["requests"]
        assert r["failed_total"] == res["failed_requests"]
        assert r["dead"] == res["dead_region"] and r["fault_at"] == res["fault"]["at_s"]
        assert r["windows"]["n"] == res["clients_affected"] > 0
        assert r["windows"]["censored"] == res["censored"]
        assert sum(r["windows"]["counts"].values()) == r["windows"]["n"]
        assert r["windows"] == v["windows"]  # the live fold and dnslab view count alike
        # dead_share is the same rule (measure.LatestRegions) at the same times
        share = {round(int(k) * BIN - res["fault"]["at_s"], 3): s for k, s in r["share"].items()}
        assert res["dead_share"] and all(share[t] == s for t, s in res["dead_share"])
        assert set(r["delays"]) == {"detection", "propagation"}


def snapshot_bound(doc: dict[str, Any], regions: int, locations: int) -> int:
    """Bytes the snapshot may take for what it holds: per run a value per bin of its duration
    in each of its two charts, the window cells, at most KEEP timeline lines, marks and health
    changes per region, one answer per location; each entry at its largest."""
    total = 200 + len(json.dumps(doc["meta"])) + 3 * 120  # the cards
    for r in doc["model"]["runs"]:
        bins = math.ceil(r["end"] / BIN) + 2
        assert len(r["share"]) <= bins and len(r["failed_bins"]) <= bins
        assert len(r["windows"]["counts"]) <= WindowHistogram.CELLS
        assert len(r["log"]) <= KEEP and len(r["marks"]) <= KEEP
        assert len(r["health"]) <= regions and len(r["answers"]) <= locations
        assert all(len(h) <= KEEP for h in r["health"].values())
        total += 800  # the run's scalars
        total += 2 * bins * len('"1234":12345,') + WindowHistogram.CELLS * len('"31":123456,')
        total += len(r["log"]) * 160 + len(r["marks"]) * 80
        total += sum(len(h) for h in r["health"].values()) * 40 + locations * 160
    return total


def test_the_snapshot_is_bounded_by_what_the_page_shows(tmp_path: Path) -> None:
    sizes, events = [], []
    for clients in (50, 500):
        hub = EventHub({"regions": ["eu-west", "us-east", "ap-south"]})
        count = ev.EventLog()
        sim_drill(tmp_path / str(clients), clients, hub, count)
        seq, text = hub.snapshot()
        bound = snapshot_bound(json.loads(text), regions=3, locations=3)
        print(f"{clients} clients: {seq} events, snapshot {len(text)} bytes (bound {bound})")
        assert len(text.encode()) <= bound
        sizes.append(len(text))
        events.append(len(count.of(ev.ClientRequest)) + len(count.of(ev.ClientResolved)))
    assert events[1] > 8 * events[0]  # ten times the clients' events ...
    assert sizes[1] < 1.2 * sizes[0]  # ... and about the same snapshot


def test_the_timeline_keeps_the_last_lines() -> None:
    """Under dnslab up decisions keep coming: the model keeps the last KEEP of each."""
    hub = EventHub({})
    n = 3 * KEEP + 1
    for i in range(n):
        hub.publish(ev.CheckerDecision(float(i), "eu-west", i % 2 == 0, "checker", "flap"))
    [run] = hub.model.doc["runs"]
    assert len(run["log"]) == len(run["marks"]) == len(run["health"]["eu-west"]) == KEEP
    assert run["log"][-1][1] == n - 1 and run["health"]["eu-west"][0]["at"] == n - KEEP
    assert run["health_before"]["eu-west"] is ((n - KEEP - 1) % 2 == 0)  # the last one dropped
    assert hub.model.doc["cards"]["decision"]["seq"] == n


def test_a_later_window_replaces_the_earlier_one() -> None:
    """A client's window that reopens (or is still open at the end) is published again: the
    model counts its latest one only, and cells merge exactly when a window falls past them."""
    hub = EventHub({})
    hub.publish(ev.RunStarted(0.0, 5, "sim", "t", 3, 30.0))

    def window(client: int, w: float, censored: bool = False) -> None:
        hub.publish(ev.WindowClosed(client, "honours-ttl", "eu", 5, w, censored))

    window(1, 0.3)
    window(2, 0.3)
    window(1, 2.0, censored=True)  # client 1 again: its 0.3 s window is gone
    w = hub.model.doc["runs"][0]["windows"]
    assert (w["n"], w["censored"], w["width"]) == (2, 1, 0.125)
    assert w["counts"] == {"2": 1, "16": 1}  # 0.3 s and 2.0 s in 0.125 s cells
    window(3, 9.0)  # past 32 cells of 0.125 s: 0.25, 0.5 ... 0.5 s cells hold it
    w = hub.model.doc["runs"][0]["windows"]
    assert (w["n"], w["width"]) == (3, 0.5) and w["counts"] == {"0": 1, "4": 1, "18": 1}
    window(1, 1.0)  # censored no more
    w = hub.model.doc["runs"][0]["windows"]
    assert (w["n"], w["censored"]) == (3, 0) and w["counts"] == {"0": 1, "2": 1, "18": 1}


def test_pointers_escape_keys() -> None:
    """A location or region name with "/" or "~" stays one key of the patch's path."""
    hub = EventHub({})
    hub.publish(ev.AnswerChanged(1.0, "eu/w~1", ("127.0.0.1",), ("eu-west",)))
    [msg] = messages(hub)
    doc = jsonpatch.apply_patch({"runs": [], "cards": {}}, msg["patch"])
    assert doc == json.loads(json.dumps(hub.model.doc)) and "eu/w~1" in doc["runs"][0]["answers"]
