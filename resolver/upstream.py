"""The upstream client (asyncio shell): one query with timeout, retries and TC → TCP.

Every failure is an :class:`UpstreamError` whose ``kind`` is one of ``KINDS`` (the label of
``dnslab_resolver_upstream_errors_total``); rcode errors (SERVFAIL, REFUSED) are not raised
here: they are answers, and the resolution step decides what they mean.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import dns.asyncquery
import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.rdataclass
import dns.rdatatype

from lab.errors import LabError
from resolver.core import UpstreamRequest

KINDS = ("timeout", "network", "malformed", "servfail", "refused", "ecs_mismatch")
EDNS_PAYLOAD = 1232  # DNS flag day 2020


class UpstreamClient(Protocol):
    """What the server needs from an upstream; tests swap in a fake."""

    async def resolve(self, request: UpstreamRequest) -> tuple[dns.message.Message, float]: ...


class UpstreamError(LabError):
    """An upstream query that got no usable answer; ``kind`` is one of ``KINDS``."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"upstream {kind}: {detail}")
        self.kind = kind


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int
    timeout: float = 1.0  # seconds per try
    retries: int = 2  # tries after the first
    tcp_only: bool = False

    def make_query(self, request: UpstreamRequest) -> dns.message.Message:
        options: list[dns.edns.Option] = []
        if request.ecs is not None:
            ecs = request.ecs
            options.append(dns.edns.ECSOption(ecs.address_text(), ecs.source, 0))
        return dns.message.make_query(
            request.qname,
            dns.rdatatype.RdataType(request.qtype),
            dns.rdataclass.RdataClass(request.qclass),
            use_edns=0,
            payload=EDNS_PAYLOAD,
            options=options,
        )

    async def resolve(self, request: UpstreamRequest) -> tuple[dns.message.Message, float]:
        """The upstream's response and how long the successful try took (seconds)."""
        last: UpstreamError | None = None
        for _ in range(self.retries + 1):
            query = self.make_query(request)
            started = time.monotonic()
            try:
                response = await self._once(query)
            except dns.exception.Timeout:
                last = UpstreamError("timeout", f"no answer within {self.timeout:.3f}s")
                continue
            except (dns.exception.DNSException, ValueError, EOFError) as exc:  # after Timeout
                last = UpstreamError("malformed", str(exc))
                continue
            except OSError as exc:
                last = UpstreamError("network", str(exc))
                continue
            return response, time.monotonic() - started
        assert last is not None
        raise last

    async def _once(self, query: dns.message.Message) -> dns.message.Message:
        if not self.tcp_only:
            response = await dns.asyncquery.udp(
                query, self.host, timeout=self.timeout, port=self.port, ignore_unexpected=True
            )
            if not response.flags & dns.flags.TC:
                return response
        return await dns.asyncquery.tcp(query, self.host, timeout=self.timeout, port=self.port)
