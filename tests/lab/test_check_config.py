"""`dnslab check-config`: the shipped files pass; every kind of mistake is refused naming the
file and the field (issue 13 item 8 / finding 9)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lab.cli import main
from tests.conftest import REPO

SHIPPED = (
    (REPO / "lab.toml")
    .read_text()
    .replace('"zones/lab.example.zone"', f'"{REPO / "zones/lab.example.zone"}"')
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["check-config", *argv])
    return code, capsys.readouterr().out


def test_shipped_lab_and_scenarios_pass(capsys: pytest.CaptureFixture[str]) -> None:
    scenarios = sorted(str(p) for p in (REPO / "scenarios").glob("*.toml"))
    code, out = run(capsys, "--config", str(REPO / "lab.toml"), *scenarios)
    assert code == 0, out
    assert out.count(": ok (") == 1 + len(scenarios)


MISTAKES = [
    ("interval = 2.0", "intervall = 2.0", "checks.intervall: unknown key"),
    ('assume = "up"', 'assume = "sideways"', "authoritative.assume"),
    ('quorum = "majority"', "quorum = 5", "authoritative.quorum"),
    ('listen = "127.0.0.1:8054"', 'listen = "127.0.0.1:8053"', "checkers[0].listen: 127.0.0.1:8053 is also authoritative.admin_listen"),
    ('na = ["us-east", "eu-west"', 'na = ["us-east", "eu-wst"', "services.www.order.na[1]: unknown region 'eu-wst'"),
    ('v4 = ["127.0.2.1"]', 'v4 = ["127.0.2.300"]', "regions.eu-west.v4"),
    ("ttl = 30", "ttl = -1", "services.www.ttl"),
    ('eu = ["127.2.0.0/16"]', 'eu = ["127.2.0.1/16"]', "locations.eu"),
    ('assume = "up"', 'assume = "up"\nmax_stale = 0', "authoritative.max_stale"),
    ('assume = "up"', 'assume = "up"\non_expired = "forget"', "authoritative.on_expired"),
    ("[checks]", '[control]\nauth = "maybe"\n\n[checks]', "control.auth"),
    ("ttl = 30", 'ttl = "30"', "services.www.ttl: Input should be a valid integer (got '30')"),
    ("fall = 3", "fall = true", "checks.fall: Input should be a valid integer (got True)"),
    ("interval = 2.0", 'interval = "2"', "checks.interval: Input should be a valid number"),
    ('v4 = ["127.0.2.1"]', 'v4 = "127.0.2.1"', "regions.eu-west.v4: Input should be a list [...]"),
    ('listen = "127.0.0.1:5301"', 'listen = "127.0.0.1:5300"', "resolver.listen: 127.0.0.1:5300 is also authoritative.listen"),
]  # fmt: skip


@pytest.mark.parametrize(("old", "new", "field"), MISTAKES, ids=[m[2][:40] for m in MISTAKES])
def test_each_lab_mistake_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, field: str
) -> None:
    assert old in SHIPPED, old
    path = tmp_path / "lab.toml"
    path.write_text(SHIPPED.replace(old, new, 1))
    code, out = run(capsys, "--config", str(path))
    assert code == 1
    assert f"{path}: " in out and field in out, out
    assert out.count(field) == 1, out  # each mistake said once


def test_what_only_the_files_can_tell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "secret"
    secret.write_text("00" * 32)
    os.chmod(secret, 0o644)
    (tmp_path / "health.json").write_text('{"version": 1, "checkers": {"local": 3}}')
    (tmp_path / "admin.json").write_text('{"eu-wst": "down"}')
    text = SHIPPED.replace(f'"{REPO / "zones/lab.example.zone"}"', '"missing.zone"')
    text = text.replace(
        'assume = "up"',
        'assume = "up"\nhealth_state = "health.json"\nadmin_state = "admin.json"',
    )
    path = tmp_path / "lab.toml"
    path.write_text(text + '\n[control]\nsecret_file = "secret"\n')
    code, out = run(capsys, "--config", str(path))
    assert code == 1
    for field in (
        "authoritative.zones",
        "authoritative.health_state",
        "checkers.local",
        "authoritative.admin_state",
        "eu-wst",
        "control:",
        "readable by other users",
    ):
        assert field in out, (field, out)


def test_scenario_mistakes_use_the_drill_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = tmp_path / "bad.toml"
    sc.write_text(
        '[[faults]]\nat = 1\naction = "fault"\nregion = "eu-wst"\nfault = "slow"\n'
        "params = {ms = -1}\n"
    )
    code, out = run(capsys, "--config", str(REPO / "lab.toml"), str(sc))
    assert code == 1
    assert f"{sc}: faults[0].region: unknown region 'eu-wst'" in out
    assert f"{sc}: faults[0].params.ms" in out


def test_a_listener_beyond_loopback_is_warned_not_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lab.toml"
    path.write_text(SHIPPED.replace('listen = "127.0.0.1:5301"', 'listen = "0.0.0.0:5301"', 1))
    code, out = run(capsys, "--config", str(path))
    assert code == 0, out
    warned = [line for line in out.splitlines() if ": warning: " in line]
    assert warned == [
        f"{path}: warning: resolver.listen: 0.0.0.0:5301 is not loopback"
        " (reachable beyond this host; docs/security.md)"
    ], out
    code, out = run(capsys, "--config", str(REPO / "lab.toml"))
    assert code == 0 and "warning" not in out, out


def test_control_plane_line_names_the_secret_and_off_is_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto without a configured secret: the per-user default, named, not made by the check;
    auth = "off" passes but is warned about (the explicit way to run unauthenticated)."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    default = tmp_path / "state" / "dnslab" / "secret"
    code, out = run(capsys, "--config", str(REPO / "lab.toml"))
    assert code == 0, out
    assert f"control plane: authenticated (default secret {default}, made on first use)" in out
    assert not default.exists()  # nothing is started, nothing is made
    path = tmp_path / "lab.toml"
    path.write_text(SHIPPED + '\n[control]\nauth = "off"\n')
    code, out = run(capsys, "--config", str(path))
    assert code == 0, out
    assert "control plane: auth = 'off': UNAUTHENTICATED" in out
    assert [line for line in out.splitlines() if ": warning: " in line] == [
        f"{path}: warning: control.auth = 'off': the control plane is UNAUTHENTICATED (any "
        "process on a checker's address is believed; docs/security.md)"
    ], out
