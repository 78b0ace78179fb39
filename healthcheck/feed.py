"""``HealthFeed``: an asyncio client of one checker's ``/v1/events`` stream (for the server).

    feed = HealthFeed(url, on_snapshot, on_event, on_status, on_update)
    task = asyncio.create_task(feed.run())   # reconnects forever; cancel the task to stop

* Parses SSE properly (``healthcheck.sse``: multi-line data, ids, retry, comments).
* Sends ``Last-Event-ID`` on every reconnect, so missed transitions are replayed; when the
  checker cannot replay (restarted, id too old) it sends a snapshot, which replaces the view.
* ``on_update(RegionStatus)`` gets the per-probe ``status`` messages (fresh ``next_change_at``
  and ``rtt_s`` without a state change) — for dynamic TTLs and the latency policy.
* A feed is **up** from its first message until the connection fails or stays silent longer
  than ``stale_after`` seconds (heartbeats arrive every second by default). ``on_status(False)``
  then lets the server keep its last state (fail-static) and export a feed-up gauge of 0.
* Reconnects quickly. A connection that delivered messages for at least ``linger`` (1 s) and
  then ended is retried at once. While the checker **refuses connections** (``ConnectError``:
  nothing listens, e.g. it is restarting) the feed retries every
  ``uniform(0, min(quick_max, 5 ms·2^k))`` (``quick_max`` 25 ms) for up to ``quick_for``
  (10 s) of refusals in a row, so a restarted checker is followed within ~25 ms of listening
  (a refused connect on loopback costs well under a millisecond). Every other failure (and
  refusals beyond ``quick_for``) backs off exponentially with full jitter: the n-th
  consecutive failure waits ``uniform(0, min(backoff_max, base·2^n))`` where ``base`` is the
  server's ``retry`` (500 ms from our checker) or ``backoff_initial``; ``backoff_max`` is 1 s.
  A connection that delivered a message resets n.
* With a ``key`` (``lab.auth.derive(secret, "checker", NAME)``) the feed **authenticates**
  the checker: each connection sends a fresh nonce (``X-Dnslab-Nonce``); the first message
  must be a ``hello`` naming ``checker``, and every message must carry a valid ``sig``
  (``lab.auth.StreamSigner``). Anything else is **refused**: the connection is closed,
  nothing of it is applied, the feed does not count as up, ``on_refused(reason)`` is called
  and a warning is logged. Heartbeat comments count only on an authenticated connection.

``view`` is the feed's own picture (region → ``RegionStatus``), kept equal to the checker's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator, Callable

import httpx

from healthcheck.events import RegionStatus, Snapshot, StateEvent
from healthcheck.sse import SSEMessage, SSEParser
from lab.auth import NONCE_HEADER, StreamVerifier, new_nonce

LOG = logging.getLogger("dnslab.healthfeed")
MAX_UNVERIFIED = 1 << 20  # characters a stream may buffer before its hello verified


class Refused(Exception):
    """The stream did not authenticate as the expected checker."""


class HealthFeed:
    def __init__(
        self,
        url: str,
        on_snapshot: Callable[[Snapshot], None] = lambda s: None,
        on_event: Callable[[StateEvent], None] = lambda e: None,
        on_status: Callable[[bool], None] = lambda up: None,
        on_update: Callable[[RegionStatus], None] = lambda st: None,
        *,
        stale_after: float = 3.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 1.0,
        connect_timeout: float = 2.0,
        quick_max: float = 0.025,
        quick_for: float = 10.0,
        linger: float = 1.0,
        rng: random.Random | None = None,
        key: bytes | None = None,
        checker: str | None = None,
        on_refused: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.url = url
        self.on_snapshot, self.on_event, self.on_status = on_snapshot, on_event, on_status
        self.on_update = on_update
        self.stale_after = stale_after
        self.backoff_initial, self.backoff_max = backoff_initial, backoff_max
        self.connect_timeout = connect_timeout
        self.quick_max, self.quick_for, self.linger = quick_max, quick_for, linger
        self.rng = rng or random.Random()
        self.last_id: str | None = None
        self.retry_ms: int | None = None
        self.up = False
        self.view: dict[str, RegionStatus] = {}
        self.boot: str | None = None
        self.seq = 0
        self.connects = 0
        self.failures = 0
        self.key, self.checker, self.on_refused = key, checker, on_refused
        self.refused = 0

    def _set_up(self, up: bool) -> None:
        if up != self.up:
            self.up = up
            self.on_status(up)

    def backoff(self, attempt: int) -> float:
        base = self.retry_ms / 1000 if self.retry_ms is not None else self.backoff_initial
        return self.rng.uniform(0, min(self.backoff_max, base * 2**attempt))

    def quick_backoff(self, attempt: int) -> float:
        """The wait after the ``attempt``-th refused connect in a row (0: the first)."""
        return self.rng.uniform(0, min(self.quick_max, 0.005 * 2**attempt))

    def next_wait(
        self, delivered: bool, lasted: float, refused_for: float | None, attempt: int, quick: int
    ) -> float:
        """How long to wait before the next connect (``refused_for``: seconds of refused
        connects in a row so far, None if this failure was no refusal)."""
        if delivered and lasted >= self.linger:
            return 0.0  # a long-lived stream ended (the checker stopped?): look again at once
        if refused_for is not None and refused_for < self.quick_for:
            return self.quick_backoff(quick)
        return self.backoff(attempt)

    async def run(self) -> None:
        attempt = quick = 0
        refused_since: float | None = None
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(timeout=None) as client:
            while True:
                delivered = False
                refused = False
                began = loop.time()
                try:
                    delivered = await self._session(client)
                except httpx.ConnectError as exc:  # nothing listens (yet): cheap to retry soon
                    refused = True
                    LOG.info("feed %s: %s: %s", self.url, type(exc).__name__, exc)
                except Refused as exc:
                    self.refused += 1
                    LOG.warning("feed %s: refused stream: %s", self.url, exc)
                    self.on_refused(str(exc).split(":")[0])
                except (httpx.HTTPError, OSError, ValueError) as exc:
                    LOG.info("feed %s: %s: %s", self.url, type(exc).__name__, exc)
                except Exception:  # a failing callback must not end the feed for good
                    LOG.exception("feed %s: unexpected error; reconnecting", self.url)
                finally:
                    self._set_up(False)
                self.failures += 1
                now = loop.time()
                attempt = 0 if delivered else attempt + 1
                if refused:
                    refused_since = now if refused_since is None else refused_since
                else:
                    refused_since, quick = None, 0
                wait = self.next_wait(
                    delivered,
                    now - began,
                    None if refused_since is None else now - refused_since,
                    attempt,
                    quick,
                )
                quick += refused
                await asyncio.sleep(wait)

    async def _session(self, client: httpx.AsyncClient) -> bool:
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        verifier = None
        if self.key is not None:
            nonce = new_nonce()
            headers[NONCE_HEADER] = nonce
            verifier = StreamVerifier(self.key, nonce)
        timeout = httpx.Timeout(self.connect_timeout, read=self.stale_after)
        delivered = False
        authenticated = verifier is None
        async with client.stream("GET", self.url, headers=headers, timeout=timeout) as resp:
            if resp.status_code != 200:
                return False
            self.connects += 1
            parser = SSEParser()
            async for chunk in resp.aiter_text():
                messages = parser.feed(chunk)
                if not authenticated and parser.pending > MAX_UNVERIFIED:
                    raise Refused(f"oversized: {parser.pending} characters before a hello")
                if verifier is not None:
                    for msg in messages:  # check the whole chunk before applying any of it
                        if not verifier(msg.event, msg.id, msg.data, msg.sig):
                            why = "unsigned" if msg.sig is None else "bad signature"
                            raise Refused(f"{why}: {msg.event} message {verifier.position - 1}")
                        if not authenticated:
                            self._hello(msg)
                            authenticated = True
                if parser.retry_ms is not None:
                    self.retry_ms = parser.retry_ms
                for msg in messages:  # apply (e.g. a fresh snapshot) before saying "up"
                    self._handle(msg)
                if authenticated and (messages or parser.comments):
                    delivered = True
                    self._set_up(True)
        return delivered

    def _hello(self, msg: SSEMessage) -> None:
        """The first message of an authenticated stream: a hello naming the expected checker."""
        if msg.event != "hello":
            raise Refused(f"no hello: the stream started with {msg.event!r}")
        try:
            name = json.loads(msg.data).get("checker")
        except (ValueError, AttributeError):
            name = None
        if self.checker is not None and name != self.checker:
            raise Refused(f"wrong checker: {name!r}, expected {self.checker!r}")

    def _handle(self, msg: SSEMessage) -> None:
        if msg.event == "snapshot":
            snap = Snapshot.model_validate_json(msg.data)
            self.view = {r.region: r for r in snap.regions}
            self.boot, self.seq = snap.boot, snap.seq
            self.last_id = msg.id or snap.id
            self.on_snapshot(snap)
        elif msg.event == "state":
            ev = StateEvent.model_validate_json(msg.data)
            if ev.boot == self.boot and ev.seq <= self.seq:
                return  # already applied
            self.view[ev.status.region] = ev.status
            self.boot, self.seq = ev.boot, ev.seq
            self.last_id = msg.id or ev.id
            self.on_event(ev)
        elif msg.event == "status":
            st = RegionStatus.model_validate_json(msg.data)
            current = self.view.get(st.region)
            if current is not None and current.state != st.state:
                return  # a status from before a transition we already applied
            self.view[st.region] = st
            self.on_update(st)


@contextlib.asynccontextmanager
async def running(feed: HealthFeed) -> AsyncIterator[HealthFeed]:
    """``async with running(feed):`` — run the feed in a task, cancel it on exit."""
    task = asyncio.create_task(feed.run())
    try:
        yield feed
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
