"""lab.auth: derived keys, message signatures, the stream signer, the secret file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from healthcheck import sse
from lab.auth import (
    SECRET_BYTES,
    StreamSigner,
    StreamVerifier,
    control_token,
    default_secret_path,
    derive,
    generate_secret,
    load_secret,
    read_secret,
    secret_file,
    sign,
    verify,
)
from lab.errors import ConfigError

SECRET = bytes(range(32))


def test_keys_are_bound_to_role_and_name() -> None:
    keys = {derive(SECRET, r, n) for r in ("checker", "region") for n in ("local", "eu-west")}
    assert len(keys) == 4
    assert derive(SECRET, "checker", "local") == derive(SECRET, "checker", "local")
    assert derive(SECRET, "checker", "local") != derive(bytes(32), "checker", "local")
    assert control_token(SECRET, "eu-west") != control_token(SECRET, "us-east")


def test_signature_covers_every_part_and_their_split() -> None:
    key = derive(SECRET, "region", "eu-west")
    sig = sign(key, "healthz", "abc")
    assert verify(key, sig, "healthz", "abc")
    assert not verify(key, sig, "healthz", "abd")
    assert not verify(key, sig, "healthza", "bc")  # length-prefixed: no re-splitting
    assert not verify(derive(SECRET, "region", "us-east"), sig, "healthz", "abc")
    assert not verify(key, None, "healthz", "abc")


def test_stream_verifies_in_order_under_its_nonce_only() -> None:
    """What the feed checks: a stream signed for one nonce does not verify under another,
    and messages cannot be dropped or reordered."""
    key = derive(SECRET, "checker", "local")
    signer = StreamSigner(key, "n1")
    wire = b"".join(
        sse.encode(ev, data, id=i, sig=signer(ev, i, data))
        for ev, data, i in (("hello", "{}", None), ("snapshot", "{\"a\":1}", "b-0"),
                            ("status", "{}", None), ("state", "{}", "b-1"))
    )  # fmt: skip
    msgs = sse.SSEParser().feed(wire.decode())
    assert [m.event for m in msgs] == ["hello", "snapshot", "status", "state"]
    good = StreamVerifier(key, "n1")
    assert all(good(m.event, m.id, m.data, m.sig) for m in msgs)
    other = StreamVerifier(key, "n2")
    assert not other(msgs[0].event, msgs[0].id, msgs[0].data, msgs[0].sig)
    skipping = StreamVerifier(key, "n1")
    assert not skipping(msgs[1].event, msgs[1].id, msgs[1].data, msgs[1].sig)


def test_secret_file_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = generate_secret(tmp_path / "s")
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert len(read_secret(path)) == 32
    with pytest.raises(ConfigError, match="already exists"):
        generate_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by other users"):
        read_secret(path)
    bad = tmp_path / "bad"
    bad.write_text("not hex")
    os.chmod(bad, 0o600)
    with pytest.raises(ConfigError, match=r"--secret-file .*not a hex secret"):
        read_secret(bad)
    monkeypatch.delenv("DNSLAB_SECRET_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    default = tmp_path / "state" / "dnslab" / "secret"
    got = load_secret(None, None, "auto")  # auto without a configured secret: the default
    assert got is not None and got == bytes.fromhex(default.read_text())
    with pytest.raises(ConfigError, match=r"control\.auth = 'required'"):
        load_secret(None, None, "required")
    assert load_secret(str(bad), None, "off") is None
    os.chmod(path, 0o600)
    monkeypatch.setenv("DNSLAB_SECRET_FILE", str(path))
    assert load_secret(None, None, "auto") == read_secret(path)


def test_default_secret_lives_in_xdg_state_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """auto without a configured secret uses ${XDG_STATE_HOME:-~/.local/state}/dnslab/secret,
    made on first use (0600 in a 0700 directory) and the same on every later use."""
    monkeypatch.delenv("DNSLAB_SECRET_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    assert default_secret_path() == tmp_path / "st" / "dnslab" / "secret"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")  # the XDG spec: ignored
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_secret_path() == tmp_path / "home" / ".local" / "state" / "dnslab" / "secret"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    assert secret_file(None, None, create=False) == (default_secret_path(), "default secret")
    assert not default_secret_path().parent.exists()  # not made without create
    first = load_secret(None, None, "auto")
    path = default_secret_path()
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert os.stat(path.parent).st_mode & 0o777 == 0o700
    assert first is not None and len(first) == SECRET_BYTES
    assert load_secret(None, None) == first  # read, not replaced
    assert [p.name for p in path.parent.iterdir()] == ["secret"]  # no temporary left behind
    # a configured secret wins; required still insists on one; off is None
    other = generate_secret(tmp_path / "other")
    assert load_secret(str(other), None) == read_secret(other) != first
    with pytest.raises(ConfigError, match="required"):
        load_secret(None, None, "required")
    assert load_secret(None, None, "off") is None


def test_default_secret_refused_when_others_can_read_or_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DNSLAB_SECRET_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    load_secret(None, None)
    path = default_secret_path()
    os.chmod(path, 0o640)
    with pytest.raises(ConfigError, match=rf"default secret {path}: readable by other users"):
        load_secret(None, None)
    os.chmod(path, 0o600)
    os.chmod(path.parent, 0o777)
    with pytest.raises(ConfigError, match=rf"directory {path.parent} is writable by other"):
        load_secret(None, None)


def test_no_per_container_default_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In the dnslab image (DNSLAB_CONTAINER) a missing secret is an error, not a default
    that would differ from the other containers'; a given secret still works."""
    monkeypatch.delenv("DNSLAB_SECRET_FILE", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "st"))
    monkeypatch.setenv("DNSLAB_CONTAINER", "1")
    with pytest.raises(ConfigError, match="dnslab region: no lab secret in a container"):
        load_secret(None, None, "auto", "dnslab region")
    assert not (tmp_path / "st").exists()
    given = generate_secret(tmp_path / "given")
    assert load_secret(str(given), None) == read_secret(given)
