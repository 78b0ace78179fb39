"""runs/up-current.json: how `dnslab drill --attach` finds the running lab's control ports."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from lab.auth import DEFAULT_WHERE
from lab.drill.inject import AttachedInjector
from lab.drill.netclient import Counts, QueryCount
from lab.errors import ConfigError, InjectionError
from lab.up import (
    CURRENT_FILE,
    Component,
    ControlFiles,
    clear_current,
    current_probes,
    current_secret,
    read_current,
    write_current,
)


def test_current_lab_is_recorded_and_cleared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    comps = [
        Component("region eu-west", "region", (), "127.0.2.1:8080", region="eu-west",
                  control="127.0.2.1:40001"),
        Component("authoritative", "authoritative", (), "127.0.0.1:5300"),
    ]  # fmt: skip
    write_current(comps, ControlFiles("/x/secret", "/x/h.json"), tmp_path / "lab.toml")
    doc = read_current()
    assert doc is not None
    assert doc["control"] == {"eu-west": "127.0.2.1:40001"} and doc["secret_file"] == "/x/secret"
    clear_current()
    assert not CURRENT_FILE.exists()


def test_attach_checks_the_secret_as_the_lab_that_chose_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the per-user default's checks (owned by this user) apply on the attach path too: the
    # record says where the secret came from, and read_secret's error names it
    monkeypatch.chdir(tmp_path)
    comps = [Component("region eu-west", "region", (), "127.0.2.1:8080", region="eu-west",
                       control="127.0.2.1:40001")]  # fmt: skip
    missing = str(tmp_path / "gone" / "secret")
    write_current(comps, ControlFiles(missing, None, DEFAULT_WHERE), tmp_path / "lab.toml")
    assert current_secret(read_current()) == (missing, DEFAULT_WHERE)
    with pytest.raises(
        ConfigError, match=f"^{re.escape(DEFAULT_WHERE)} {re.escape(missing)}: cannot read"
    ):
        asyncio.run(AttachedInjector({}).post_fault("eu-west", {}))
    clear_current()


def test_a_dead_labs_record_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    CURRENT_FILE.parent.mkdir(parents=True)
    CURRENT_FILE.write_text(json.dumps({"pid": 2**22 + 12345, "control": {"eu-west": "x:1"}}))
    assert read_current() is None
    with pytest.raises(InjectionError, match="control port"):
        asyncio.run(AttachedInjector({"eu-west": "127.0.2.1:8080"}).post_fault("eu-west", {}))


def test_the_labs_probe_count_is_published_for_an_attached_drill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    publish = write_current([], ControlFiles(None, None), tmp_path / "lab.toml")
    doc = read_current()
    assert doc is not None and doc["probes"] == {"sent": 0, "pending": 0, "unanswered": 0}
    probes = current_probes(doc)
    count = QueryCount(publish)  # as `dnslab up` counts its status line and live page
    count.sent()
    assert probes() == Counts(1, 1, 0)
    count.finished(answered=True)
    assert probes() == Counts(1, 0, 0)
    count.stop_reporting()
    count.sent()
    assert probes() == Counts(1, 0, 0)  # a stopping lab records no more
    # another `dnslab up` (or none) now: the count read is not this lab's
    CURRENT_FILE.write_text(json.dumps({**doc, "pid": 1}))
    assert probes() is None
    clear_current()
    assert probes() is None
