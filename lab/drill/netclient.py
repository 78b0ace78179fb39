"""The drill clients' wire: a DNS query (dnslib) and an HTTP GET, both from a chosen source.

Each client binds its sockets to its own loopback address (127.1.x.y for na, ...) so the
authoritative server geolocates it by source; Linux routes all of 127/8 to loopback.
Thin asyncio shells with a timeout; they return values and never raise for network errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from dataclasses import dataclass

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
) -> DnsAnswer:
    """One A query over UDP from ``source``; waits for the answer with the matching id."""
    loop = asyncio.get_running_loop()
    qid = (rng or random).randrange(1, 65536)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        sock.bind((source, 0))
        await loop.sock_sendto(sock, encode_query(qname, qid), server)
        async with asyncio.timeout(timeout):
            while True:
                data, peer = await loop.sock_recvfrom(sock, 4096)
                if peer[:2] == server:
                    ans = decode_answer(data, qid)
                    if ans.error != "answer id mismatch":
                        return ans
    except TimeoutError:
        return DnsAnswer((), 0, -1, "timeout")
    except OSError as exc:
        return DnsAnswer((), 0, -1, exc.strerror or str(exc))
    finally:
        sock.close()


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
