"""lab.auth: derived keys, message signatures, the stream signer, the secret file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from healthcheck import sse
from lab.auth import (
    StreamSigner,
    StreamVerifier,
    control_token,
    derive,
    generate_secret,
    load_secret,
    read_secret,
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
    assert load_secret(None, None, "auto") is None
    with pytest.raises(ConfigError, match=r"control\.auth = 'required'"):
        load_secret(None, None, "required")
    assert load_secret(str(bad), None, "off") is None
    os.chmod(path, 0o600)
    monkeypatch.setenv("DNSLAB_SECRET_FILE", str(path))
    assert load_secret(None, None, "auto") == read_secret(path)
