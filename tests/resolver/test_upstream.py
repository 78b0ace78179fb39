"""The upstream client's decisions with dnspython's transport functions swapped for fakes."""

from __future__ import annotations

import asyncio
from typing import Any

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import pytest

import resolver.upstream
from resolver.core import UpstreamRequest
from resolver.ecs import ClientSubnet
from resolver.upstream import Upstream, UpstreamError
from tests.resolver.messages import query, response


class FakeClock:
    """Stands in for the `time` module of resolver.upstream: only monotonic() is used."""

    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now


class Wire:
    def __init__(
        self, udp: list[Any], tcp: list[Any] | None = None, clock: FakeClock | None = None
    ) -> None:
        self.udp, self.tcp = list(udp), list(tcp or [])
        self.calls: list[tuple[str, float, dns.message.Message]] = []
        self.clock = clock

    async def fake_udp(self, q: dns.message.Message, where: str, timeout: float, **kw: Any) -> Any:
        self.calls.append(("udp", timeout, q))
        if self.clock is not None:  # a timeout costs its timeout, an answer 50 ms
            self.clock.now += timeout if isinstance(self.udp[0], dns.exception.Timeout) else 0.05
        return self._next(self.udp, q)

    async def fake_tcp(self, q: dns.message.Message, where: str, timeout: float, **kw: Any) -> Any:
        self.calls.append(("tcp", timeout, q))
        return self._next(self.tcp, q)

    @staticmethod
    def _next(items: list[Any], q: dns.message.Message) -> Any:
        item = items.pop(0)
        if isinstance(item, BaseException):
            raise item
        r = dns.message.make_response(q)
        if item == "TC":
            r.flags |= dns.flags.TC
        return r


@pytest.fixture
def request_() -> UpstreamRequest:
    q = query(client="127.2.3.4")
    return UpstreamRequest(q.qname, q.qtype, q.qclass, ClientSubnet.from_text("127.2.3.0", 24))


def run(up: Upstream, wire: Wire, req: UpstreamRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(dns.asyncquery, "udp", wire.fake_udp)
    monkeypatch.setattr(dns.asyncquery, "tcp", wire.fake_tcp)
    return asyncio.run(up.resolve(req))


def test_retries_after_timeouts_then_answers(
    monkeypatch: pytest.MonkeyPatch, request_: UpstreamRequest
) -> None:
    """`took` is the successful try alone, on a fake clock each try advances (the old
    `took >= 0` held for any value; mutation: timing from before the first try gives 0.55)."""
    clock = FakeClock()
    monkeypatch.setattr(resolver.upstream, "time", clock)
    wire = Wire([dns.exception.Timeout(), dns.exception.Timeout(), "ok"], clock=clock)
    _resp, took = run(
        Upstream("127.0.0.1", 53, timeout=0.25, retries=2), wire, request_, monkeypatch
    )
    assert [c[:2] for c in wire.calls] == [("udp", 0.25)] * 3
    assert took == pytest.approx(0.05)


def test_gives_up_after_outbound_msg_retry(
    monkeypatch: pytest.MonkeyPatch, request_: UpstreamRequest
) -> None:
    wire = Wire([dns.exception.Timeout()] * 2)
    with pytest.raises(UpstreamError) as err:
        run(Upstream("127.0.0.1", 53, retries=1), wire, request_, monkeypatch)
    assert err.value.kind == "timeout" and len(wire.calls) == 2


def test_network_and_malformed_kinds(
    monkeypatch: pytest.MonkeyPatch, request_: UpstreamRequest
) -> None:
    with pytest.raises(UpstreamError) as err:
        run(Upstream("127.0.0.1", 53, retries=0), Wire([OSError("refused")]), request_, monkeypatch)
    assert err.value.kind == "network"
    with pytest.raises(UpstreamError) as err:
        bad = Wire([dns.exception.FormError("bad")])
        run(Upstream("127.0.0.1", 53, retries=0), bad, request_, monkeypatch)
    assert err.value.kind == "malformed"


def test_truncated_udp_is_retried_over_tcp(
    monkeypatch: pytest.MonkeyPatch, request_: UpstreamRequest
) -> None:
    wire = Wire(["TC"], ["ok"])
    resp, _ = run(Upstream("127.0.0.1", 53), wire, request_, monkeypatch)
    assert [c[0] for c in wire.calls] == ["udp", "tcp"] and not resp.flags & dns.flags.TC


def test_tcp_upstream_only(monkeypatch: pytest.MonkeyPatch, request_: UpstreamRequest) -> None:
    wire = Wire([], ["ok"])
    run(Upstream("127.0.0.1", 53, tcp_only=True), wire, request_, monkeypatch)
    assert [c[0] for c in wire.calls] == ["tcp"]


def test_query_carries_ecs_and_edns(request_: UpstreamRequest) -> None:
    q = Upstream("127.0.0.1", 53).make_query(request_)
    (ecs,) = q.options
    assert q.edns == 0 and q.payload == 1232 and q.flags & dns.flags.RD
    assert (ecs.address, ecs.srclen, ecs.scopelen) == ("127.2.3.0", 24, 0)  # type: ignore[attr-defined]
    assert response(request_).question == q.question
