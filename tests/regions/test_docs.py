"""docs/regions.md: every fault body it shows is accepted; every fault is documented."""

from __future__ import annotations

import json
import re

from regions import faults as F
from tests.conftest import REPO

DOC = (REPO / "docs/regions.md").read_text()


def test_documented_fault_bodies_parse() -> None:
    bodies = re.findall(r"`(\{\"fault\":[^`]*\})`", DOC)
    assert len(bodies) >= 8
    for body in bodies:
        assert not isinstance(F.parse_fault(json.loads(body)), F.FaultError), body


def test_every_fault_is_documented() -> None:
    for name in F.KNOWN_FAULTS:
        assert f"| `{name}` |" in DOC, name
