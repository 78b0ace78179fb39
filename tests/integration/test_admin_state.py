"""authoritative.admin_state: forced states survive a restart (gdnsd's admin_state file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.procs import ProcessGroup
from tests.integration.geo_lab import AUTH, addrs, admin, ask, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STATE = {'quorum = "majority"': 'quorum = "majority"\nadmin_state = "admin_state.json"'}


def test_overrides_survive_a_restart_and_the_file_wins_on_reload(
    procs: ProcessGroup, tmp_path: Path
) -> None:
    _, port, admin_port = start_lab(procs, tmp_path, **STATE)
    assert (
        admin(
            admin_port, "PUT", "/v1/health/eu-west", json={"state": "down"}, headers=AUTH
        ).status_code
        == 200
    )
    state = tmp_path / "admin_state.json"
    assert json.loads(state.read_text()) == {"eu-west": "down"}
    procs.stop_all()

    _, port, admin_port = start_lab(procs, tmp_path, **STATE)  # a new process, same state file
    assert addrs(ask(port, "127.2.0.10")) == ["127.0.1.1"]
    assert admin(admin_port, "GET", "/v1/health").json()["regions"]["eu-west"]["forced"] is True

    state.write_text('{"ap-south": "down"}')  # an operator edits the file, then reloads
    assert admin(admin_port, "POST", "/v1/reload", headers=AUTH).json()["reloaded"] is True
    assert addrs(ask(port, "127.2.0.10")) == ["127.0.2.1"]
    assert addrs(ask(port, "127.3.0.10")) == ["127.0.2.1"]
