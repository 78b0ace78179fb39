"""Progress of long work (sweeps, resolver priming) with rich: a live bar on a terminal, a
plain line every few seconds otherwise (logs, CI)."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TaskProgress:
    """``total`` steps; ``advance(what)`` after each one."""

    def __init__(self, total: int, label: str, stream: TextIO, every_s: float = 5.0) -> None:
        self.total, self.label, self.stream, self.every_s = total, label, stream, every_s
        self.console = Console(file=stream, stderr=True)
        self.live = self.console.is_terminal
        self.done = 0
        self.t0 = time.monotonic()
        self._last = -1e9
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TaskProgress:
        if self.live:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[what]}"),
                console=self.console,
                transient=False,
            )
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, what="")
        return self

    def advance(self, what: str = "", steps: int = 1) -> None:
        self.done += steps
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, advance=steps, what=what)
            return
        now = time.monotonic()
        if now - self._last >= self.every_s or self.done >= self.total:
            self._last = now
            self.stream.write(
                f"{self.label}: {self.done}/{self.total} done, {now - self.t0:.0f}s elapsed"
                f"{f' ({what})' if what else ''}\n"
            )
            self.stream.flush()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
