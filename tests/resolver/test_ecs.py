"""ECS (RFC 7871): what the resolver forwards and which cached answers a client may reuse."""

from __future__ import annotations

import pytest

from lab.clock import VirtualClock
from resolver.cache import Cache
from resolver.ecs import GLOBAL, IPV6, ClientSubnet, echo_matches, scope_of, subnet_to_forward

Q = ("www.lab.example.", 1, 1)


def fwd(client: str | None, ecs: ClientSubnet | None = None, **kw: object) -> ClientSubnet | None:
    opts: dict[str, object] = {"enabled": True, "max_ipv4": 24, "max_ipv6": 56} | kw
    return subnet_to_forward(client, ecs, **opts)  # type: ignore[arg-type]


def test_forward_truncates_client_address_to_24_and_56() -> None:
    assert str(fwd("127.2.3.4")) == "127.2.3.0/24"
    assert str(fwd("2001:db8:1:2ff:3::1")) == "2001:db8:1:200::/56"


def test_forward_limits_are_configurable_and_can_be_off() -> None:
    assert str(fwd("127.2.3.4", max_ipv4=16)) == "127.2.0.0/16"
    assert str(fwd("2001:db8:1:2:3::1", max_ipv6=48)) == "2001:db8:1::/48"
    assert fwd("127.2.3.4", enabled=False) is None


def test_client_ecs_is_honoured_and_truncated_to_the_max() -> None:
    own = ClientSubnet.from_text("10.9.8.7", 32)
    assert str(fwd("127.0.0.1", own)) == "10.9.8.0/24"
    narrow = ClientSubnet.from_text("10.9.8.7", 16)
    assert str(fwd("127.0.0.1", narrow)) == "10.9.0.0/16"


def test_client_source_zero_opts_out() -> None:
    out = fwd("127.2.3.4", ClientSubnet.from_text("127.2.3.4", 0))
    assert out is not None and out.source == 0 and out.address == 0


def test_scope_zero_or_absent_is_global() -> None:
    sent = ClientSubnet.from_text("127.2.3.0", 24)
    assert scope_of(sent, 0) is GLOBAL
    assert scope_of(sent, None) is GLOBAL
    assert scope_of(None, 24) is GLOBAL


def test_scope_longer_than_source_is_cut_to_source() -> None:
    sent = ClientSubnet.from_text("127.2.3.0", 24)
    assert scope_of(sent, 32).prefix == 24


def test_scope_s_reusable_within_same_slash_s_only() -> None:
    clock = VirtualClock()
    cache: Cache[str] = Cache()
    sent = fwd("127.2.3.4")
    scope = scope_of(sent, 16)  # the server says: valid for all of 127.2.0.0/16
    cache.put(Q, scope, "eu", 60, clock.now())
    assert cache.get(Q, fwd("127.2.200.9"), clock.now()) is not None  # same /16
    assert cache.get(Q, fwd("127.3.3.4"), clock.now()) is None  # other /16
    assert cache.get(Q, fwd("::1"), clock.now()) is None  # other family
    assert cache.get(Q, None, clock.now()) is None  # ECS off: only global answers
    # a client that opted out (source 0) may not use a scoped answer
    assert cache.get(Q, fwd("127.2.3.4", ClientSubnet.from_text("127.2.3.4", 0)), 0.0) is None
    # a client that revealed only /8 may not use a /16 answer
    assert cache.get(Q, fwd("127.2.3.4", ClientSubnet.from_text("127.2.3.4", 8)), 0.0) is None


def test_scope_zero_answer_serves_everyone() -> None:
    cache: Cache[str] = Cache()
    cache.put(Q, scope_of(fwd("127.2.3.4"), 0), "all", 60, 0.0)
    for client in ("127.1.1.1", "127.3.0.9", "::1"):
        assert cache.get(Q, fwd(client), 1.0) is not None
    assert cache.get(Q, None, 1.0) is not None
    assert cache.get(Q, fwd("1.2.3.4", ClientSubnet.from_text("1.2.3.4", 0)), 1.0) is not None


def test_most_specific_fresh_scope_wins() -> None:
    cache: Cache[str] = Cache()
    cache.put(Q, GLOBAL, "global", 60, 0.0)
    cache.put(Q, scope_of(fwd("127.2.3.4"), 24), "eu-24", 60, 0.0)
    near = cache.get(Q, fwd("127.2.3.99"), 1.0)
    far = cache.get(Q, fwd("127.1.0.1"), 1.0)
    assert near is not None and near.entry.payload == "eu-24"
    assert far is not None and far.entry.payload == "global"
    assert len(cache) == 2


def test_echo_must_match_what_was_sent() -> None:
    sent = ClientSubnet.from_text("127.2.3.0", 24)
    echo = ClientSubnet.from_text("127.2.3.0", 24)
    assert echo_matches(sent, echo.family, echo.address, 24)
    assert not echo_matches(sent, echo.family, echo.address, 16)
    other = ClientSubnet.from_text("127.9.3.0", 24)
    assert not echo_matches(sent, other.family, other.address, 24)
    assert not echo_matches(sent, IPV6, 0, 24)


def test_bad_source_prefix_rejected() -> None:
    with pytest.raises(ValueError, match="out of range"):
        ClientSubnet.from_text("127.0.0.1", 33)
