"""``PageModel``: what the live page draws, folded from the drill's typed events.

This is the one place the page's aggregation rules are written. ``static/app.js`` draws the
document (``PageModel.doc``) and does no arithmetic over events: the hub folds each event into
the model (``apply``) and the event's stream message carries the change as a JSON Patch
(RFC 6902, two operations: ``add`` sets an object member or appends to a list with ``-``,
``remove`` drops a list's first item). A page that connects gets the document itself (the
stream's snapshot), so a page opened late draws what a page connected from the start draws,
and the snapshot holds what the page shows — per run a value per 0.25 s bin of its duration,
at most ``WindowHistogram.CELLS`` window cells, one entry per region and location, the last
``KEEP`` timeline lines, marks and health changes per region — not the events. What the rules
need per client (its latest region, its latest window) stays in the server, for the current
run only (``RunState``).

The share of clients on the dead region is ``measure.LatestRegions``, the rule of
results.json's ``dead_share``; the stale windows are the drill's ``WindowClosed`` events
(``measure.WindowState``), counted, not recomputed.

``view_model`` builds the same document from a finished drill's results.json (``dnslab view``).
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from typing import Any

from lab.drill.measure import LatestRegions

BIN = 0.25  # seconds per bin of the share and failed-request charts
KEEP = 200  # timeline lines, marks, and health changes per region the page keeps per run

Op = dict[str, Any]


def fmt(x: float | None, nd: int = 2) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def pointer(*keys: str | int) -> str:
    """A JSON Pointer (RFC 6901) to ``keys``."""
    parts = [str(k) for k in keys]
    text = "/" + "/".join(parts)
    if "~" in text or text.count("/") != len(parts):  # a key holds "~" or "/": escape them
        text = "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in parts)
    return text


@dataclass
class WindowHistogram:
    """Clients' stale windows counted in cells of ``width`` seconds: at most ``CELLS`` cells;
    a window past the last cell doubles the width (pairs of cells merge, which is exact).
    ``counts`` maps a cell's index (a string, as in JSON) to its count."""

    CELLS = 32
    FIRST_WIDTH = 0.125

    width: float = FIRST_WIDTH
    counts: dict[str, int] = field(default_factory=dict)

    def cell(self, w: float) -> int:
        return math.floor(max(0.0, w) / self.width)

    def add(self, w: float, n: int) -> bool:
        """Count ``n`` (+1 or -1) windows of ``w`` seconds; True when the cells were merged."""
        merged = False
        while self.cell(w) >= self.CELLS:
            cells: dict[str, int] = {}
            for k, c in self.counts.items():
                cells[str(int(k) // 2)] = cells.get(str(int(k) // 2), 0) + c
            self.width *= 2
            self.counts = {k: c for k, c in cells.items() if c}
            merged = True
        k = str(self.cell(w))
        self.counts[k] = self.counts.get(k, 0) + n
        return merged


@dataclass
class RunState:
    """What the current run's rules need per client (kept in the server, never sent)."""

    latest: LatestRegions = field(default_factory=LatestRegions)
    windows: dict[int, tuple[float, bool]] = field(default_factory=dict)
    hist: WindowHistogram = field(default_factory=WindowHistogram)
    until: float = 0.0  # the latest request's time


def new_run(
    ttl: int | None,
    *,
    scenario: str = "",
    clients: int = 0,
    end: float = 0.0,
    mode: str = "lab",
    t0wall: float | None = None,
    assume_up: bool = True,
) -> dict[str, Any]:
    return {
        "ttl": ttl,
        "scenario": scenario,
        "clients": clients,
        "end": end,
        "mode": mode,
        "t0wall": t0wall,
        "finished": False,
        "failed": False,
        "fault_at": None,
        "dead": None,
        "recovered_at": None,
        "marks": [],
        "log": [],
        "health": {},  # region -> its last KEEP decisions [{at, up}]
        "health_before": {},  # region -> up before its first kept decision (older dropped)
        "answers": {},  # location -> {addrs, regions, at, probe}
        "share": {},  # bin -> share of clients whose latest request went to the dead region
        "failed_bins": {},  # bin -> failed requests
        "failed_total": 0,  # failed requests after the fault
        "requests": 0,
        "stale": 0,  # clients whose latest request went to the dead region (after the fault)
        "windows": {"n": 0, "censored": 0, "width": WindowHistogram.FIRST_WIDTH, "counts": {}},
        "delays": {},
        "latest": 0.0,
        "assume_up": assume_up,
    }


def _unique(xs: list[str]) -> list[str]:
    return list(dict.fromkeys(xs))


class PageModel:
    def __init__(self) -> None:
        self.doc: dict[str, Any] = {"runs": [], "cards": {}}
        self._state = RunState()
        self._ops: list[Op] = []

    # -- changes: each mutates the document and records its JSON Patch operation ------------

    def _add(self, path: tuple[str | int, ...], value: Any) -> None:
        *parent, key = path
        target: Any = self.doc
        for k in parent:
            target = target[k]
        if key == "-":
            target.append(value)
        else:
            target[key] = value
        # the value as of now: later changes of this event are operations of their own
        if isinstance(value, dict | list):
            value = copy.deepcopy(value)
        self._ops.append({"op": "add", "path": pointer(*path), "value": value})

    def _set(self, run: int, key: str, value: Any) -> None:
        if self.doc["runs"][run][key] != value:
            self._add(("runs", run, key), value)

    def _push(self, path: tuple[str | int, ...], value: Any) -> None:
        """Append to the list at ``path``, dropping its first item past ``KEEP``."""
        target: Any = self.doc
        for k in path:
            target = target[k]
        self._add((*path, "-"), value)
        if len(target) > KEEP:
            target.pop(0)
            self._ops.append({"op": "remove", "path": pointer(*path, 0)})

    def _log(self, i: int, cls: str, at: float, text: str) -> None:
        self._push(("runs", i, "log"), [cls, at, text])

    def _mark(self, i: int, at: float, cls: str, label: str) -> None:
        self._push(("runs", i, "marks"), {"at": at, "cls": cls, "label": label})

    def _card(self, name: str, text: str, seq: int) -> None:
        self._add(("cards", name), {"text": text, "seq": seq})

    # -- the fold ----------------------------------------------------------------------------

    def apply(self, e: dict[str, Any]) -> list[Op]:
        """Fold one event (``hub.event_dict`` with ``seq`` and ``wall``); its JSON Patch."""
        self._ops = []
        kind, runs = e["type"], self.doc["runs"]
        if kind == "RunStarted":
            self._state = RunState()
            run = new_run(
                e["ttl"], scenario=e["scenario"], clients=e["clients"], end=e["end"],
                mode=e["mode"], t0wall=e["wall"] - e["at"],
            )  # fmt: skip
            self._add(("runs", "-"), run)
            i = len(runs) - 1
            self._log(i, "", e["at"], f"run TTL {e['ttl']}s started: {e['clients']} clients, {fmt(e['end'], 0)} s")  # fmt: skip
            return self._ops
        if not runs:  # dnslab up without a drill: health and answers, timed from the lab's start
            self._add(("runs", "-"), new_run(None, assume_up=False))
        i = len(runs) - 1
        r = runs[i]
        at = e.get("at")
        if at is not None:
            if at > r["latest"]:
                self._set(i, "latest", at)
            if r["t0wall"] is None:
                self._set(i, "t0wall", e["wall"] - at)
        getattr(self, "_on_" + kind)(i, r, e)
        return self._ops

    def _on_FaultInjected(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        if r["fault_at"] is None:
            self._set(i, "fault_at", e["at"])
            self._set(i, "dead", e["region"])
            self._set(i, "stale", self._state.latest.on(e["region"]))
        what = f"{e['action']} {e['region']}"
        self._mark(i, e["at"], "m-fault", what)
        extra = f" ({e['fault']})" if e["fault"] and e["fault"] != "kill" else ""
        self._log(i, "fault", e["at"], f"fault: {what}{extra}")
        self._card("fault", f"fault: {what} at {fmt(e['at'])} s", e["seq"])

    def _on_FaultCleared(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        if e["region"] == r["dead"] and r["recovered_at"] is None:
            self._set(i, "recovered_at", e["at"])
        what = f"{e['action']} {e['region']}"
        self._mark(i, e["at"], "m-fault", what)
        self._log(i, "fault", e["at"], what)
        self._card("fault", f"{what} at {fmt(e['at'])} s", e["seq"])

    def _on_InjectionFailed(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        self._set(i, "failed", True)
        what = f"INJECTION FAILED: {e['action']} {e['region']}"
        self._log(i, "fault", e["at"], f"{what}: {e['detail']}")
        self._card("fault", what, e["seq"])

    def _on_CheckerDecision(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        region, word = e["region"], "UP" if e["up"] else "DOWN"
        if region not in r["health"]:
            self._add(("runs", i, "health", region), [])
        before = r["health"][region][0]["up"] if len(r["health"][region]) == KEEP else None
        self._push(("runs", i, "health", region), {"at": e["at"], "up": e["up"]})
        if before is not None:
            self._add(("runs", i, "health_before", region), before)
        if e["reason"] != "snapshot":
            self._mark(i, e["at"], "m-decision", f"{region} {word}")
        why = f" ({e['reason']})" if e["reason"] else ""
        self._log(i, "decision", e["at"], f"checker {e['vantage']}: {region} {word}{why}")
        self._card("decision", f"checker: {region} {word} at {fmt(e['at'])} s", e["seq"])

    def _on_AnswerChanged(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        loc, answer = e["location"], {"addrs": e["addrs"], "regions": e["regions"]}
        self._add(("runs", i, "answers", loc), {**answer, "at": e["at"], "probe": True})
        to = ", ".join(_unique(e["regions"])) or "nothing"
        if e["previous"]:
            self._mark(i, e["at"], "m-answer", f"{loc} → {to}")
            change = f"{' '.join(e['previous'])} → {' '.join(e['addrs'])}"
            self._log(i, "answer", e["at"], f"answer for {loc}: {change} ({to})")
            self._card("answer", f"answer: {loc} → {to} at {fmt(e['at'])} s", e["seq"])

    def _on_ClientResolved(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        # until the probe reports a location's answer: the region its clients were answered
        a = r["answers"].get(e["location"])
        new = a is None or (not a["probe"] and a["regions"][0] != e["region"])
        if e["ok"] and e["upstream"] == "authoritative" and e["region"] and new:
            answer = {"addrs": [], "regions": [e["region"]], "at": e["at"], "probe": False}
            self._add(("runs", i, "answers", e["location"]), answer)

    def _on_ClientRequest(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        st = self._state
        st.latest.feed(e["client"], e["region"])
        self._set(i, "requests", r["requests"] + 1)
        if not e["ok"]:
            k = str(math.floor(e["at"] / BIN))
            self._add(("runs", i, "failed_bins", k), r["failed_bins"].get(k, 0) + 1)
            if r["fault_at"] is not None and e["at"] >= r["fault_at"]:
                self._set(i, "failed_total", r["failed_total"] + 1)
        # as of the latest request's bin end (results.json's dead_share at k * BIN counts the
        # requests up to it); a request arriving late counts in the latest bin
        st.until = max(st.until, e["at"])
        share = round(st.latest.share(r["dead"]), 4)
        k = str(math.ceil(st.until / BIN))
        if r["share"].get(k) != share:
            self._add(("runs", i, "share", k), share)
        if r["fault_at"] is not None:
            self._set(i, "stale", st.latest.on(r["dead"]))

    def _on_WindowClosed(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        # the drill's window of a client; its later one (reopened, or open at the end) replaces it
        st, w = self._state, r["windows"]
        old = st.windows.get(e["client"])
        st.windows[e["client"]] = (e["window_s"], e["censored"])
        merged = st.hist.add(e["window_s"], 1)
        if old is not None:
            merged = st.hist.add(old[0], -1) or merged
        censored = w["censored"] + int(e["censored"]) - int(old is not None and old[1])
        if merged or old is not None:
            counts = {k: c for k, c in st.hist.counts.items() if c}
            st.hist.counts = counts
            self._add(
                ("runs", i, "windows"),
                {"n": len(st.windows), "censored": censored, "width": st.hist.width, "counts": dict(counts)},
            )  # fmt: skip
            return
        k = str(st.hist.cell(e["window_s"]))
        self._add(("runs", i, "windows", "counts", k), st.hist.counts[k])
        self._add(("runs", i, "windows", "n"), len(st.windows))
        if censored != w["censored"]:
            self._add(("runs", i, "windows", "censored"), censored)

    def _on_DelayMeasured(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        self._add(("runs", i, "delays", e["what"]), e["seconds"])
        text = f"{e['what']} delay {fmt(e['seconds'])} s ({e['region']})"
        self._log(i, "", r["latest"], text)

    def _on_RunFinished(self, i: int, r: dict[str, Any], e: dict[str, Any]) -> None:
        self._set(i, "finished", True)
        self._set(i, "failed", r["failed"] or e["failed"])
        self._state = RunState()  # nothing of this run's clients is needed any more
        failed = " — FAILED: no real outage" if e["failed"] else ""
        self._log(i, "", e["at"], f"run TTL {e['ttl']}s finished{failed}")


# -- dnslab view: the same document from a finished drill's results.json -----------------------


def _log_class(text: str) -> str:
    if re.search("fault|kill|FAILED", text):
        return "fault"
    if "checker" in text:
        return "decision"
    return "answer" if "authoritative" in text else ""


def view_model(results: dict[str, Any]) -> dict[str, Any]:
    """The page's document for a drill's results.json (``dnslab.drill.results/1``): per run its
    fault, detection and propagation marks, ``dead_share`` (as ``share_series``),
    ``client_windows`` counted by ``WindowHistogram``, ``by_location`` and the timeline."""
    runs = []
    scenario = (results.get("scenario") or {}).get("name", "")
    for run in results["runs"]:
        r = new_run(
            run["ttl"], scenario=scenario, clients=run["clients"], end=run["duration_s"],
            mode=run["mode"],
        )  # fmt: skip
        fa, dead = run["fault"]["at_s"], run["dead_region"]
        r.update(
            finished=True, failed=run["failed"], latest=run["duration_s"], fault_at=fa, dead=dead,
            requests=run["requests"], failed_total=run["failed_requests"],
        )  # fmt: skip
        if fa is not None:
            r["marks"].append({"at": fa, "cls": "m-fault", "label": "fault"})
            if run["detection_s"] is not None:
                d = fa + run["detection_s"]
                r["health"][dead] = [{"at": d, "up": False}]
                r["marks"].append({"at": d, "cls": "m-decision", "label": "down"})
                if run["propagation_s"] is not None:
                    p = d + run["propagation_s"]
                    r["marks"].append({"at": p, "cls": "m-answer", "label": "answer"})
            if run["fault"]["recovered_at_s"] is not None:
                at = run["fault"]["recovered_at_s"]
                r["marks"].append({"at": at, "cls": "m-fault", "label": "recovered"})
        r["share_series"] = [[t + (fa or 0), s] for t, s in run.get("dead_share") or []]
        r["failed_series"] = []  # results.json keeps the total only
        for loc, v in (run.get("by_location") or {}).items():
            p90 = fmt(v["stale_window_s"]["p90"])
            text = f"{v['clients_affected']}/{v['clients']} clients stale, p90 {p90} s"
            r["answers"][loc] = {"addrs": [], "regions": [text], "at": fa or 0, "probe": True}
        hist = WindowHistogram()
        windows = run.get("client_windows") or []
        for c in windows:
            hist.add(c["window_s"], 1)
        r["windows"] = {
            "n": len(windows),
            "censored": sum(1 for c in windows if c["censored"]),
            "width": hist.width,
            "counts": hist.counts,
        }
        r["log"] = [[_log_class(text), t, text] for t, text in run.get("events") or []]
        runs.append(r)
    cards: dict[str, Any] = {}
    if results["runs"]:
        run0 = results["runs"][0]
        text = f"fault: {run0['fault']['action']} {run0['dead_region']} at {fmt(run0['fault']['at_s'])} s"
        cards = {
            "fault": {"text": text, "seq": 0},
            "decision": {"text": f"detection {fmt(run0['detection_s'])} s", "seq": 0},
            "answer": {"text": f"propagation {fmt(run0['propagation_s'])} s", "seq": 0},
        }
    return {"runs": runs, "cards": cards}
