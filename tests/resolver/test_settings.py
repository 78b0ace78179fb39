"""The [resolver] slice: Unbound option names, dashed or underscored, with clear errors."""

from __future__ import annotations

import tomllib

import pytest
from pydantic import ValidationError

from resolver.settings import ResolverSettings, split_host_port


def test_dashed_and_underscored_spellings() -> None:
    doc = tomllib.loads(
        """
        [resolver]
        cache-min-ttl = 5
        cache_max_ttl = 300
        serve-expired = true
        serve-expired-client-timeout = 1800
        max-client-subnet-ipv4 = 16
        """
    )
    s = ResolverSettings.model_validate(doc["resolver"])
    assert (s.cache_min_ttl, s.cache_max_ttl, s.serve_expired) == (5, 300, True)
    assert s.serve_expired_client_timeout == 1800 and s.max_client_subnet_ipv4 == 16
    assert ResolverSettings(cache_min_ttl=7).cache_min_ttl == 7


def test_unbound_defaults() -> None:
    s = ResolverSettings()
    assert (s.cache_min_ttl, s.cache_max_ttl, s.cache_max_negative_ttl) == (0, 86400, 3600)
    assert (s.prefetch, s.serve_expired, s.serve_expired_reply_ttl) == (False, False, 30)
    assert (s.max_client_subnet_ipv4, s.max_client_subnet_ipv6) == (24, 56)


def test_unknown_option_is_an_error() -> None:
    with pytest.raises(ValidationError, match="cache-min-tll"):
        ResolverSettings.model_validate({"cache-min-tll": 5})


def test_msg_cache_size_in_bytes_is_explained() -> None:
    with pytest.raises(ValidationError, match="counts cache entries, not bytes"):
        ResolverSettings.model_validate({"msg-cache-size": "4m"})


def test_bad_address() -> None:
    with pytest.raises(ValidationError, match="HOST:PORT"):
        ResolverSettings(upstream="localhost")
    assert split_host_port("[::1]:53") == ("::1", 53)


def test_like_profiles_set_defaults_and_explicit_options_win() -> None:
    bind = ResolverSettings.model_validate({"like": "bind"})
    assert bind.prefetch and bind.prefetch_trigger == 2 and bind.cache_max_negative_ttl == 10800
    assert not bind.send_client_subnet
    coredns = ResolverSettings.model_validate({"like": "coredns", "cache-min-ttl": 0})
    assert coredns.cache_min_ttl == 0 and coredns.cache_max_ttl == 3600
    dnsmasq = ResolverSettings.model_validate({"like": "dnsmasq", "serve_expired": True})
    assert dnsmasq.msg_cache_size == 150 and dnsmasq.serve_expired_reply_ttl == 0
    assert ResolverSettings().like == "unbound"


def test_unknown_profile_is_an_error() -> None:
    with pytest.raises(ValidationError, match="like"):
        ResolverSettings.model_validate({"like": "powerdns"})


def test_send_client_subnet_unbound_list_form() -> None:
    from resolver.settings import ecs_enabled

    listed = ResolverSettings.model_validate(
        {"upstream": "127.0.0.1:5300", "send-client-subnet": ["127.0.0.1", "10.0.0.1@53"]}
    )
    other = ResolverSettings.model_validate(
        {"upstream": "127.0.0.9:53", "send-client-subnet": ["127.0.0.1"]}
    )
    assert ecs_enabled(listed) and not ecs_enabled(other)
    assert ecs_enabled(ResolverSettings()) and not ecs_enabled(
        ResolverSettings(send_client_subnet=False)
    )
