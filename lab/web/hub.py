"""``EventHub``: the drill's typed events, numbered, for the page's one SSE stream.

It is a drill event sink (``lab.drill.events.EventSink``) like the Prometheus exporter: it
subscribes through ``DrillOptions.sinks``, folds each event into the page's model
(``lab.web.model.PageModel``) and keeps the last ``KEEP`` events for resumes, each as
``{"seq": N, "type": "FaultInjected", "wall": unix_time, ...fields, "patch": [JSON Patch]}``:
the snapshot is the model (bounded by what the page shows), not the events.
The stream's event id is ``BOOT-SEQ``: ``BOOT`` names this hub (a new process starts a new
numbering), so a page that reconnects with a ``Last-Event-ID`` of another hub gets a fresh
snapshot instead of a wrong resume. ``publish`` runs on the drill's loop (one thread); the
HTTP threads read under the same condition variable.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import secrets
import threading
import time
from collections import deque
from typing import Any

from lab.drill.events import DrillEvent
from lab.web.model import PageModel


def event_dict(event: DrillEvent) -> dict[str, Any]:
    """A typed event as JSON-ready fields, with its type name."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for f in dataclasses.fields(event):
        v = getattr(event, f.name)
        out[f.name] = list(v) if isinstance(v, tuple) else v
    return out


class EventHub:
    """``keep``: the messages kept for a resume by ``Last-Event-ID`` (an older id, or a
    stream that fell further behind, gets a fresh snapshot)."""

    KEEP = 10_000

    def __init__(self, meta: dict[str, Any] | None = None, keep: int = KEEP) -> None:
        self.boot = secrets.token_hex(4)
        self.meta: dict[str, Any] = dict(meta or {})
        self.model = PageModel()
        self._lines: deque[str] = deque(maxlen=keep)  # JSON of events last_seq-len+1..last_seq
        self._seq = 0
        self._cond = threading.Condition()
        self.closed = False

    # -- the sink ----------------------------------------------------------------------------

    def publish(self, event: DrillEvent) -> None:
        doc = event_dict(event)
        with self._cond:
            self._seq += 1
            doc["seq"] = self._seq
            doc["wall"] = round(time.time(), 4)
            doc["patch"] = self.model.apply(doc)
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
            return self._seq

    @property
    def first_kept(self) -> int:
        """The oldest seq still kept (last_seq + 1 before the first event)."""
        with self._cond:
            return self._seq - len(self._lines) + 1

    def event_id(self, seq: int) -> str:
        return f"{self.boot}-{seq}"

    def resume_from(self, last_event_id: str | None) -> int | None:
        """The seq a ``Last-Event-ID`` of this hub stands for; None: send a snapshot."""
        if not last_event_id:
            return None
        boot, _, seq = last_event_id.strip().rpartition("-")
        if boot != self.boot or not seq.isdigit():
            return None
        if not self.first_kept - 1 <= int(seq) <= self.last_seq:
            return None
        return int(seq)

    def since(self, seq: int, timeout: float) -> tuple[list[str] | None, bool]:
        """Events after ``seq`` (JSON lines), waiting up to ``timeout`` for one; and closed.
        None instead of the lines: some after ``seq`` are no longer kept (send a snapshot)."""
        with self._cond:
            if self._seq <= seq and not self.closed:
                self._cond.wait(timeout)
            first = self._seq - len(self._lines) + 1
            if seq < first - 1:
                return None, self.closed
            # the newest (last_seq - seq) lines, read from the right: O(new), not O(kept)
            new = list(itertools.islice(reversed(self._lines), self._seq - seq))
            return new[::-1], self.closed

    def snapshot(self) -> tuple[int, str]:
        """(last seq, the snapshot document: meta and the page's model as of that seq)."""
        with self._cond:
            model = json.dumps(self.model.doc, separators=(",", ":"), allow_nan=False)
            seq = self._seq
        meta = json.dumps(self.meta, separators=(",", ":"))
        return seq, f'{{"meta":{meta},"model":{model}}}'
