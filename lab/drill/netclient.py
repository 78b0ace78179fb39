"""The drill clients' wire: a DNS query (dnslib) and an HTTP GET, both from a chosen source.

Each client binds its sockets to its own loopback address (127.1.x.y for na, ...) so the
authoritative server geolocates it by source; Linux routes all of 127/8 to loopback.
Thin asyncio shells with a timeout; they return values and never raise for network errors.

``QueryCount`` is the one count of the lab's own probe queries (the drill's answer probe,
``dnslab up``'s status line and live page): ``query(..., count=...)`` keeps it, so a reading
of the authoritative server's query counter can take them out (docs/drills.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace

from dnslib import QTYPE, DNSRecord

QNAME = "www.lab.example."


@dataclass(frozen=True)
class DnsAnswer:
    addrs: tuple[str, ...]  # A records in answer order ("" when none)
    ttl: int  # smallest TTL of those records
    rcode: int
    error: str = ""  # non-empty: no usable answer (timeout, refused, SERVFAIL, empty)


@dataclass(frozen=True)
class HttpResult:
    status: int  # 0: no HTTP answer
    region: str  # X-Region header ("" when absent)
    error: str = ""


@dataclass(frozen=True)
class Counts:
    """A probe's queries so far: ``sent`` were handed to the socket (on loopback the server
    gets each one); ``pending`` of them still wait for a reply; ``unanswered`` ended without
    one (timeout, send error, cancelled), so the server may or may not have counted those."""

    sent: int = 0
    pending: int = 0
    unanswered: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "pending": self.pending, "unanswered": self.unanswered}

    @classmethod
    def from_doc(cls, doc: object) -> Counts | None:
        """The counts ``as_dict`` wrote; None when ``doc`` is not such a dict."""
        if not isinstance(doc, dict):
            return None
        values = [doc.get(k) for k in ("sent", "pending", "unanswered")]
        ints = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v >= 0]
        return cls(*ints) if len(ints) == len(values) else None


class QueryCount:
    """Counts a probe's queries as ``query`` sends them and their replies arrive. Thread-safe
    (``dnslab up`` probes from its main thread and its live page's thread); ``on_change``
    gets every new value, in order (it runs under the lock)."""

    def __init__(self, on_change: Callable[[Counts], None] | None = None) -> None:
        self._lock = threading.Lock()
        self._counts = Counts()
        self.on_change = on_change

    def counts(self) -> Counts:
        with self._lock:
            return self._counts

    def _add(self, sent: int = 0, pending: int = 0, unanswered: int = 0) -> None:
        with self._lock:
            c = self._counts
            self._counts = replace(
                c,
                sent=c.sent + sent,
                pending=c.pending + pending,
                unanswered=c.unanswered + unanswered,
            )
            if self.on_change is not None:
                self.on_change(self._counts)

    def stop_reporting(self) -> None:
        """No more ``on_change`` calls (once one in progress has ended)."""
        with self._lock:
            self.on_change = None

    def sent(self) -> None:
        self._add(sent=1, pending=1)

    def finished(self, answered: bool) -> None:
        self._add(pending=-1, unanswered=0 if answered else 1)


def encode_query(qname: str, qid: int) -> bytes:
    q = DNSRecord.question(qname, "A")
    q.header.id = qid
    q.header.rd = 1  # as a stub resolver asks: the lab resolver (as Unbound) refuses RD=0
    data: bytes = q.pack()
    return data


def decode_answer(data: bytes, qid: int) -> DnsAnswer:
    try:
        msg = DNSRecord.parse(data)
    except Exception as exc:  # dnslib raises its own DNSError and others on garbage
        return DnsAnswer((), 0, -1, f"unparsable answer: {exc}")
    if msg.header.id != qid:
        return DnsAnswer((), 0, -1, "answer id mismatch")
    rcode = int(msg.header.rcode)
    records = [rr for rr in msg.rr if rr.rtype == QTYPE.A]
    if rcode != 0 or not records:
        return DnsAnswer((), 0, rcode, f"rcode {rcode}" if rcode else "no A records")
    return DnsAnswer(tuple(str(rr.rdata) for rr in records), min(int(rr.ttl) for rr in records), 0)


async def query(
    server: tuple[str, int],
    source: str,
    timeout: float,
    qname: str = QNAME,
    rng: random.Random | None = None,
    count: QueryCount | None = None,
) -> DnsAnswer:
    """One A query over UDP from ``source``; waits for the answer with the matching id.
    With ``count``, the query is counted just before it is sent, and its end (a reply, or
    none: timeout, send error, cancelled) when it ended."""
    loop = asyncio.get_running_loop()
    qid = (rng or random).randrange(1, 65536)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    sent = answered = False
    try:
        sock.bind((source, 0))
        if count is not None:  # before it can reach the server, so a reading never misses it
            count.sent()
            sent = True
        await loop.sock_sendto(sock, encode_query(qname, qid), server)
        async with asyncio.timeout(timeout):
            while True:
                data, peer = await loop.sock_recvfrom(sock, 4096)
                if peer[:2] == server:
                    ans = decode_answer(data, qid)
                    if ans.error != "answer id mismatch":
                        answered = True
                        return ans
    except TimeoutError:
        return DnsAnswer((), 0, -1, "timeout")
    except OSError as exc:
        return DnsAnswer((), 0, -1, exc.strerror or str(exc))
    finally:
        sock.close()
        if count is not None and sent:
            count.finished(answered)


async def http_get(addr: str, port: int, source: str, timeout: float) -> HttpResult:
    """``GET /`` on addr:port from ``source`` with a fresh connection (Connection: close)."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(addr, port, local_addr=(source, 0))
            writer.write(
                b"GET / HTTP/1.1\r\nHost: www.lab.example\r\nUser-Agent: dnslab-drill\r\n"
                b"Connection: close\r\n\r\n"
            )
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split()[1])
            region = ""
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "x-region":
                    region = value.strip()
            return HttpResult(status, region)
    except TimeoutError:
        return HttpResult(0, "", "timeout")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        text = getattr(exc, "strerror", None) or type(exc).__name__
        return HttpResult(0, "", str(text).lower())
    except (ValueError, IndexError):
        return HttpResult(0, "", "bad HTTP response")
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
