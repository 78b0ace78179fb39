"""POST /v1/reload: a good file is adopted atomically, a broken one refused while service goes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.procs import ProcessGroup
from tests.integration.geo_lab import AUTH, addrs, admin, ask, start_lab

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_reload_good_and_broken_files(procs: ProcessGroup, tmp_path: Path) -> None:
    config, port, admin_port = start_lab(procs, tmp_path)
    assert addrs(ask(port, "127.2.0.10")) == ["127.0.2.1"]
    good = config.read_text()

    config.write_text(
        good.replace('eu = ["eu-west", "us-east", "ap-south"]', 'eu = ["eu-west", "eu-wst"]')
    )
    r = admin(admin_port, "POST", "/v1/reload", headers=AUTH)
    assert r.status_code == 400 and not r.json()["reloaded"]
    assert (
        "services.www.order.eu[1]: unknown region 'eu-wst' (known: us-east, eu-west, ap-south)"
        in r.json()["error"]
    )
    assert addrs(ask(port, "127.2.0.10")) == ["127.0.2.1"]  # old data keeps serving

    zone = tmp_path / "broken.zone"
    zone.write_text(
        "$ORIGIN lab.example.\n@ IN SOA ns1 host 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 999.1.1.1\n"
    )
    config.write_text(
        good.replace(str(Path(__file__).resolve().parents[2] / "zones/lab.example.zone"), str(zone))
    )
    r = admin(admin_port, "POST", "/v1/reload", headers=AUTH)
    assert r.status_code == 400 and "broken.zone" in r.json()["error"]
    assert ask(port, "127.2.0.10", "static.lab.example.").answer  # old zone still served

    admin(admin_port, "PUT", "/v1/health/eu-west", json={"state": "down"}, headers=AUTH)
    config.write_text(
        good.replace("ttl = 30\n", "ttl = 60\n").replace("ttl_max = 30", "ttl_max = 60")
    )
    r = admin(admin_port, "POST", "/v1/reload", headers=AUTH)
    assert r.status_code == 200 and r.json()["reloaded"], r.text
    m = ask(port, "127.2.0.10")
    assert addrs(m) == ["127.0.1.1"] and m.answer[0].ttl == 60  # override survived the reload


def test_reload_follows_a_new_checker(procs: ProcessGroup, tmp_path: Path) -> None:
    import time

    from lab.procs import free_port, wait_for
    from tests.integration.geo_lab import fake_checker, region_status

    config, port, admin_port = start_lab(procs, tmp_path)  # its checker port has nobody listening
    new_port = free_port()
    text = config.read_text()
    old = text.split('[[checkers]]\nname = "local"\nlisten = "')[1].split('"')[0]
    config.write_text(text.replace(old, f"127.0.0.1:{new_port}"))
    regions = [region_status("eu-west", "down", time.time() + 60)]
    with fake_checker(new_port, regions):
        r = admin(admin_port, "POST", "/v1/reload", headers=AUTH)
        assert r.status_code == 200, r.text
        wait_for(
            lambda: addrs(ask(port, "127.2.0.10")) == ["127.0.1.1"], 10, "new checker's word used"
        )
