"""Clocks. Pure code takes ``now`` as an argument; shells hold a ``Clock``.

``SystemClock`` reads ``time.monotonic()``; ``VirtualClock`` only moves when told to, which is
what lets tests and ``dnslab sweep`` run the real logic on virtual time.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds on a monotonic scale."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()


class VirtualClock:
    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock never moves backwards")
        self._now += seconds
        return self._now

    def set(self, when: float) -> None:
        if when < self._now:
            raise ValueError("a clock never moves backwards")
        self._now = when
