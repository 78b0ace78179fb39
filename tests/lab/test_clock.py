from __future__ import annotations

import pytest

from lab.clock import VirtualClock


def test_virtual_clock_moves_only_when_told() -> None:
    clock = VirtualClock(10.0)
    assert clock.now() == 10.0
    assert clock.advance(2.5) == 12.5
    clock.set(20.0)
    assert clock.now() == 20.0
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(19.0)
