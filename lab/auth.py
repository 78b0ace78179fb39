"""The lab secret and what is derived from it (pure apart from reading/writing the file).

One random **lab secret** (32 bytes, hex in a file of mode 0600) is shared by the processes of
one lab. Nothing sends it anywhere: each identity gets its own key derived from it,

    key(role, name) = HMAC-SHA256(secret, "dnslab/v1/" + role + "/" + name)

so a message signed with the key of checker ``local`` cannot pass as checker ``remote`` or as
region ``eu-west``. Two challenge-response uses (docs/security.md):

* **health feed** — the server sends a fresh nonce with each ``GET /v1/events``; the checker
  signs every SSE message with ``key("checker", NAME)`` over (nonce, position, event, id,
  data). A process on the checker's address that does not hold the key cannot produce one
  valid message, and a recorded stream does not verify under a new nonce.
* **region health** — the checker sends a fresh challenge with each ``GET /healthz``; the
  region answers a proof ``HMAC(key("region", NAME), challenge)``. A squatter on a region's
  freed port cannot answer it, so it is not mistaken for the healed region.

The region fault API (control port) takes ``Authorization: Bearer`` with ``control_token``.

Where the secret comes from (``secret_file`` decides, for every component): ``--secret-file
PATH``, else env ``DNSLAB_SECRET_FILE``, else ``control.secret_file`` in lab.toml, else — with
``control.auth = "auto"`` — the **per-user default** ``${XDG_STATE_HOME:-~/.local/state}/dnslab/secret``,
created on first use (``ensure_default_secret``: complete before it appears, 0600 in a 0700
directory), so every process one user starts by hand authenticates the others with no flags and
a process of another user (without the file) is refused. ``auth = "off"`` is the explicit way to
run unauthenticated; ``"required"`` insists on a configured secret. Inside the dnslab image
(env ``DNSLAB_CONTAINER``) the default is an error: a per-container default would not match
the other containers' (compose mounts one secret). ``dnslab secret FILE`` writes one for
scripts and containers.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from lab.errors import ConfigError

SECRET_ENV = "DNSLAB_SECRET_FILE"
NONCE_HEADER = "X-Dnslab-Nonce"  # feed: the subscriber's fresh nonce
CHALLENGE_HEADER = "X-Dnslab-Challenge"  # region health: the checker's fresh challenge
PROOF_HEADER = "X-Dnslab-Proof"  # region health: the region's answer
SECRET_BYTES = 32
STATE_ENV = "XDG_STATE_HOME"  # the per-user default lives in $XDG_STATE_HOME/dnslab/secret
CONTAINER_ENV = "DNSLAB_CONTAINER"  # set by the dnslab image: no per-container default secret
DEFAULT_WHERE = "default secret"  # how errors name the per-user default


def new_nonce() -> str:
    return secrets.token_hex(16)


def derive(secret: bytes, role: str, name: str) -> bytes:
    """The key of one identity (``role`` checker | region | region-control, ``name``)."""
    return hmac.new(secret, f"dnslab/v1/{role}/{name}".encode(), hashlib.sha256).digest()


def sign(key: bytes, *parts: str) -> str:
    """HMAC-SHA256 (hex) over the parts, each length-prefixed so no two splits collide."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        raw = part.encode()
        mac.update(len(raw).to_bytes(4, "big"))
        mac.update(raw)
    return mac.hexdigest()


def verify(key: bytes, given: str | None, *parts: str) -> bool:
    return given is not None and hmac.compare_digest(given.strip(), sign(key, *parts))


def control_token(secret: bytes, region: str) -> str:
    """The bearer token of one region's fault API."""
    return derive(secret, "region-control", region).hex()


def generate_secret(path: Path) -> Path:
    """Write a fresh secret to ``path`` (mode 0600); refuses to replace an existing file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists (remove it to make a new secret)") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create secret: {exc.strerror}") from None
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(SECRET_BYTES) + "\n")
    return path


def read_secret(path: str | Path, where: str = "--secret-file") -> bytes:
    """The secret in ``path``: hex, at least 16 bytes, not readable by others (and, for the
    per-user default — ``where`` is ``DEFAULT_WHERE`` —, owned by this user); a
    ``ConfigError`` naming ``where`` and the path."""
    p = Path(path)
    try:
        text = p.read_text().strip()
        st = p.stat()
    except OSError as exc:
        raise ConfigError(f"{where} {p}: cannot read: {exc.strerror or exc}") from None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(
            f"{where} {p}: not a hex secret (make one with `dnslab secret`)"
        ) from None
    if len(raw) < 16:
        raise ConfigError(f"{where} {p}: secret too short ({len(raw)} bytes; at least 16)")
    if os.name == "posix" and st.st_mode & 0o077:
        raise ConfigError(
            f"{where} {p}: readable by other users (mode {st.st_mode & 0o777:o}); chmod 600 {p}"
        )
    if where == DEFAULT_WHERE and os.name == "posix" and st.st_uid != os.geteuid():
        raise ConfigError(f"{where} {p}: owned by uid {st.st_uid}, not by you (uid {os.geteuid()})")
    return raw


def default_secret_path() -> Path:
    """``${XDG_STATE_HOME:-~/.local/state}/dnslab/secret`` (a relative XDG_STATE_HOME is
    ignored, as the XDG base directory spec says)."""
    base = os.environ.get(STATE_ENV, "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "dnslab" / "secret"


def ensure_default_secret(path: Path | None = None) -> Path:
    """The per-user default secret file, made on first use without a race: the secret is
    written and fsynced to a private temporary file (0600) in the same directory, then
    hard-linked to the final name. ``link`` is atomic and never replaces: of processes starting
    at once exactly one link wins and all read that file, and nobody ever sees a half-written
    secret. The directory is made 0700 and refused if others can write to it."""
    path = path or default_secret_path()
    d = path.parent
    try:
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = d.stat()
    except OSError as exc:
        raise ConfigError(f"{DEFAULT_WHERE} {path}: cannot create {d}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & 0o022:
        raise ConfigError(
            f"{DEFAULT_WHERE} {path}: directory {d} is writable by other users "
            f"(mode {st.st_mode & 0o777:o}); chmod 700 {d}"
        )
    if os.path.lexists(path):
        return path
    try:
        fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=d)  # 0600
    except OSError as exc:
        raise ConfigError(f"{DEFAULT_WHERE} {path}: cannot create: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(SECRET_BYTES) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another process made it first: everybody uses that one
        except OSError as exc:
            raise ConfigError(f"{DEFAULT_WHERE} {path}: cannot create: {exc.strerror}") from None
    finally:
        os.unlink(tmp)
    return path


def secret_source(flag: str | None, configured: str | None) -> tuple[str, str] | None:
    """(path, where) of a configured secret: the flag, else the env variable, else lab.toml."""
    if flag:
        return flag, "--secret-file"
    env = os.environ.get(SECRET_ENV)
    if env:
        return env, SECRET_ENV
    if configured:
        return configured, "control.secret_file"
    return None


def secret_file(
    flag: str | None,
    configured: str | None,
    auth: str = "auto",
    who: str = "dnslab",
    create: bool = True,
) -> tuple[Path, str] | None:
    """(path, where) of the lab secret every component uses — the one place that decides:
    None with ``auth = "off"``; a configured secret (``secret_source``); else with ``"auto"``
    the per-user default (made on first use unless ``create`` is false), with ``"required"``
    an error. Inside the dnslab image (``DNSLAB_CONTAINER``) a missing secret is an error too."""
    if auth == "off":
        return None
    src = secret_source(flag, configured)
    if src is not None:
        return Path(src[0]), src[1]
    how = f"pass --secret-file, set {SECRET_ENV} or control.secret_file"
    if auth == "required":
        raise ConfigError(
            f"{who}: control.auth = 'required' but no secret: {how} (make one with "
            "`dnslab secret FILE`)"
        )
    if os.environ.get(CONTAINER_ENV):
        raise ConfigError(
            f"{who}: no lab secret in a container ({CONTAINER_ENV} is set): a per-container "
            f"default secret would not match the other containers'; {how} "
            "(compose.yaml mounts /config/secret)"
        )
    return (ensure_default_secret() if create else default_secret_path()), DEFAULT_WHERE


def load_secret(
    flag: str | None, configured: str | None, auth: str = "auto", who: str = "dnslab"
) -> bytes | None:
    """The lab secret per ``secret_file``, or None (unauthenticated) with ``auth = "off"``.
    ``auth`` is ``control.auth``: auto | required | off."""
    src = secret_file(flag, configured, auth, who)
    return None if src is None else read_secret(*src)


class StreamSigner:
    """Signs the messages of one SSE stream, in order: message n covers (nonce, n, event, the
    last event id in force after it — as the SSE parser sees it —, data)."""

    def __init__(self, key: bytes, nonce: str) -> None:
        self.key, self.nonce, self.position = key, nonce, 0
        self.last_id = ""

    def __call__(self, event: str, id: str | None, data: str) -> str:
        if id is not None:
            self.last_id = id
        sig = sign(self.key, self.nonce, str(self.position), event, self.last_id, data)
        self.position += 1
        return sig


class StreamVerifier:
    """The subscriber's side of ``StreamSigner``: each message must carry the next signature."""

    def __init__(self, key: bytes, nonce: str) -> None:
        self.key, self.nonce, self.position = key, nonce, 0

    def __call__(self, event: str, id: str | None, data: str, sig: str | None) -> bool:
        ok = verify(self.key, sig, self.nonce, str(self.position), event, id or "", data)
        self.position += 1
        return ok
