"""A plain-text progress bar on stderr (no dependencies): rewritten in place on a terminal,
one line every few seconds otherwise (logs, CI)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

from lab.drill.record import RunRecord

WIDTH = 24


@dataclass
class ProgressBar:
    label: str
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    every_s: float = 5.0  # when not a terminal
    _seen: int = 0
    _requests: int = 0
    _failed: int = 0
    _last_line: float = -1e9

    def line(self, t: float, end: float, rec: RunRecord) -> str:
        for o in rec.observations[self._seen :]:
            if o.kind == "request":
                self._requests += 1
                self._failed += not o.ok
        self._seen = len(rec.observations)
        frac = min(1.0, max(0.0, t / end)) if end > 0 else 1.0
        filled = int(frac * WIDTH)
        bar = "#" * filled + "-" * (WIDTH - filled)
        state = "before the fault"
        if rec.fault_at is not None:
            state = f"{rec.fault_action} {rec.dead_region} at {rec.fault_at:.1f}s"
        return (
            f"{self.label} [{bar}] {t:5.1f}/{end:.1f}s  requests {self._requests}"
            f"  failed {self._failed}  {state}"
        )

    def __call__(self, t: float, end: float, rec: RunRecord) -> None:
        text = self.line(t, end, rec)
        if self.stream.isatty():
            self.stream.write("\r" + text.ljust(100))
            self.stream.flush()
        elif t - self._last_line >= self.every_s:
            self._last_line = t
            self.stream.write(text + "\n")
            self.stream.flush()

    def priming(self, elapsed: float, lead: float) -> None:
        """The lab resolver is being primed before the clients start (up to one TTL)."""
        frac = min(1.0, elapsed / lead) if lead > 0 else 1.0
        bar = "#" * int(frac * WIDTH) + "-" * (WIDTH - int(frac * WIDTH))
        text = (
            f"{self.label} [{bar}] priming the lab resolver {elapsed:5.1f}/{lead:.1f}s "
            "(filled at random ages before the clients start)"
        )
        if self.stream.isatty():
            self.stream.write("\r" + text.ljust(100))
            self.stream.flush()
        elif elapsed - self._last_line >= self.every_s or elapsed == 0.0:
            self._last_line = elapsed
            self.stream.write(text + "\n")
            self.stream.flush()
        if elapsed >= lead:
            self._last_line = -1e9

    def done(self, rec: RunRecord) -> None:
        text = self.line(rec.end, rec.end, rec)
        self.stream.write(("\r" + text.ljust(100) if self.stream.isatty() else text) + "\n")
        self.stream.flush()
