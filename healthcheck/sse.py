"""Server-Sent Events framing (pure): encode one message, parse a stream incrementally.

Follows the WHATWG "event stream interpretation": lines end in CRLF, LF or CR; ``data`` lines
are joined with LF; a line starting with ``:`` is a comment (our heartbeats); ``id`` sets the
last event id (ignored if it contains NUL); ``retry`` takes digits only; a blank line
dispatches; a message with no data is not dispatched (but its ``id``/``retry`` still count).
One field of our own: ``sig`` (the message's signature, docs/security.md); clients that do not
know it ignore it, as the standard says for unknown fields.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SSEMessage:
    event: str
    data: str
    id: str | None  # the last event id in force after this message
    sig: str | None = None  # the ``sig`` field of this message, if it had one


def encode(
    event: str,
    data: str,
    id: str | None = None,
    retry_ms: int | None = None,
    sig: str | None = None,
) -> bytes:
    lines = []
    if sig is not None:
        lines.append(f"sig: {sig}")
    if retry_ms is not None:
        lines.append(f"retry: {retry_ms}")
    if id is not None:
        lines.append(f"id: {id}")
    lines.append(f"event: {event}")
    lines.extend(f"data: {part}" for part in data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


def comment(text: str = "") -> bytes:
    return f": {text}\n\n".encode()


class SSEParser:
    """Feed decoded text chunks; get complete messages. Tracks ``last_id`` and ``retry_ms``."""

    def __init__(self) -> None:
        self._buf = ""
        self._pending_cr = False
        self._event = ""
        self._data: list[str] = []
        self._sig: str | None = None
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self.comments = 0

    @property
    def pending(self) -> int:
        """Characters buffered towards the next complete line or message."""
        return len(self._buf) + sum(len(d) for d in self._data)

    def feed(self, chunk: str) -> list[SSEMessage]:
        if self._pending_cr and chunk.startswith("\n"):
            chunk = chunk[1:]  # the LF of a CRLF split across chunks
        self._pending_cr = False
        text = self._buf + chunk
        out: list[SSEMessage] = []
        start = 0
        i = 0
        while i < len(text):
            c = text[i]
            if c in "\r\n":
                msg = self._line(text[start:i])
                if msg is not None:
                    out.append(msg)
                if c == "\r":
                    if i + 1 < len(text):
                        if text[i + 1] == "\n":
                            i += 1
                    else:
                        self._pending_cr = True
                start = i + 1
            i += 1
        self._buf = text[start:]
        return out

    def _line(self, line: str) -> SSEMessage | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments += 1
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "sig":
            self._sig = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SSEMessage | None:
        data, event, sig = self._data, self._event, self._sig
        self._data, self._event, self._sig = [], "", None
        if not data:
            return None
        return SSEMessage(event or "message", "\n".join(data), self.last_id, sig)
