"""``EventHub``: the drill's typed events, numbered, for the page's one SSE stream.

It is a drill event sink (``lab.drill.events.EventSink``) like the Prometheus exporter: it
subscribes through ``DrillOptions.sinks`` and keeps no state of its own beyond the events it
was given, each as ``{"seq": N, "type": "FaultInjected", "wall": unix_time, ...fields}``.
The stream's event id is ``BOOT-SEQ``: ``BOOT`` names this hub (a new process starts a new
numbering), so a page that reconnects with a ``Last-Event-ID`` of another hub gets a fresh
snapshot instead of a wrong resume. ``publish`` runs on the drill's loop (one thread); the
HTTP threads read under the same condition variable.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from typing import Any

from lab.drill.events import DrillEvent


def event_dict(event: DrillEvent) -> dict[str, Any]:
    """A typed event as JSON-ready fields, with its type name."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in dataclasses.fields(event):
        v = getattr(event, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


class EventHub:
    def __init__(self, meta: dict[str, Any] | None = None) -> None:
        self.boot = secrets.token_hex(4)
        self.meta: dict[str, Any] = dict(meta or {})
        self._lines: list[str] = []  # JSON of event seq i+1
        self._cond = threading.Condition()
        self.closed = False

    # -- the sink ----------------------------------------------------------------------------

    def publish(self, event: DrillEvent) -> None:
        doc = event_dict(event)
        with self._cond:
            doc["seq"] = len(self._lines) + 1
            doc["wall"] = round(time.time(), 4)
            self._lines.append(json.dumps(doc, separators=(",", ":"), allow_nan=False))
            self._cond.notify_all()

    def close(self) -> None:
        """No more events (the drill ended): streams send ``end`` and finish."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    # -- readers -----------------------------------------------------------------------------

    @property
    def last_seq(self) -> int:
        with self._cond:
            return len(self._lines)

    def event_id(self, seq: int) -> str:
        return f"{self.boot}-{seq}"

    def resume_from(self, last_event_id: str | None) -> int | None:
        """The seq a ``Last-Event-ID`` of this hub stands for; None: send a snapshot."""
        if not last_event_id:
            return None
        boot, _, seq = last_event_id.strip().rpartition("-")
        if boot != self.boot or not seq.isdigit() or int(seq) > self.last_seq:
            return None
        return int(seq)

    def since(self, seq: int, timeout: float) -> tuple[list[str], bool]:
        """Events after ``seq`` (JSON lines), waiting up to ``timeout`` for one; and closed."""
        with self._cond:
            if len(self._lines) <= seq and not self.closed:
                self._cond.wait(timeout)
            return self._lines[seq:], self.closed

    def snapshot(self) -> tuple[int, str]:
        """(last seq, the snapshot document: meta and every event so far)."""
        with self._cond:
            lines = list(self._lines)
        meta = json.dumps(self.meta, separators=(",", ":"))
        return len(lines), f'{{"meta":{meta},"events":[{",".join(lines)}]}}'
