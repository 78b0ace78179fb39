"""Resolver settings: the ``[resolver]`` slice of lab.toml (owned by resolver/).

Field names are Unbound's option names with ``-`` → ``_``; lab.toml accepts either spelling
(``cache-min-ttl = 5`` or ``cache_min_ttl = 5``). Defaults are Unbound 1.17's unless the field
says otherwise; the knobs that Unbound does not have are marked *dnslab*. See docs/resolver.md
for how to make this resolver behave like BIND, dnsmasq, CoreDNS or systemd-resolved.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from resolver.access import parse_rule
from resolver.profiles import with_profile


def _dashed(name: str) -> str:
    return name.replace("_", "-")


class ResolverSettings(BaseModel):
    """Every behaviour of the caching resolver, each one switchable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        alias_generator=_dashed,
    )

    like: Literal["unbound", "bind", "dnsmasq", "coredns", "systemd-resolved"] = Field(
        "unbound", description="dnslab: start from this resolver's defaults (resolver/profiles.py)"
    )

    # -- addresses (dnslab) -------------------------------------------------------------------
    listen: str = "127.0.0.1:5301"
    upstream: str = "127.0.0.1:5300"
    metrics_listen: str = "127.0.0.1:9301"

    num_threads: int = Field(
        1,
        ge=1,
        le=64,
        description=(
            "worker processes sharing the listen address (SO_REUSEPORT), each with its own "
            "cache (Unbound: threads over one cache); --workers N sets it"
        ),
    )

    # -- TTL clamps (Unbound) -----------------------------------------------------------------
    cache_min_ttl: int = Field(0, ge=0, description="raise every cached TTL to at least this")
    cache_max_ttl: int = Field(86400, ge=0, description="cut every cached TTL to at most this")
    cache_max_negative_ttl: int = Field(
        3600, ge=0, description="cut the negative TTL (RFC 2308) to at most this; 0 = no neg cache"
    )

    # -- prefetch and serve-stale (Unbound; RFC 8767) -----------------------------------------
    prefetch: bool = Field(False, description="refresh on a hit in the last 10% of the TTL")
    serve_expired: bool = Field(False, description="answer from expired entries (RFC 8767)")
    serve_expired_ttl: int = Field(0, ge=0, description="how long past expiry; 0 = no limit")
    serve_expired_reply_ttl: int = Field(30, ge=0, description="TTL put on stale answers")
    serve_expired_client_timeout: int = Field(
        0, ge=0, description="ms to wait for upstream before answering stale; 0 = stale at once"
    )
    stale_refresh_time: int = Field(
        0, ge=0, description="BIND: after a failed refresh, answer stale for this long at once"
    )
    prefetch_trigger: int | None = Field(
        None, ge=0, description="BIND: prefetch with <= this many seconds left (None: last 10%)"
    )
    prefetch_eligibility: int = Field(
        0, ge=0, description="BIND: only prefetch entries whose TTL was at least this"
    )
    serve_original_ttl: bool = Field(
        False, description="serve the TTL as received, not decremented (non-decrementing cache)"
    )
    ttl_clock: Literal["exact", "seconds"] = Field(
        "seconds",
        description=(
            "dnslab: 'seconds' (default) counts whole seconds like Unbound: TTL 0 through the "
            "second an entry expires in, refetched at the next; 'exact' expires entries at "
            "the exact instant stored + TTL"
        ),
    )

    # -- size (dnslab meaning: Unbound counts bytes, dnslab counts entries) --------------------
    msg_cache_size: int = Field(
        10000, ge=0, description="entries (not bytes) before LRU eviction; 0 = no cache"
    )

    # -- EDNS Client Subnet (Unbound subnetcache module; RFC 7871) ----------------------------
    send_client_subnet: bool | list[str] = Field(
        True,
        description="forward ECS upstream: yes/no, or Unbound's form, a list of upstream addresses",
    )
    max_client_subnet_ipv4: int = Field(24, ge=0, le=32)
    max_client_subnet_ipv6: int = Field(56, ge=0, le=128)

    # -- who may ask, and how much comes back (Unbound) ---------------------------------------
    access_control: list[str] = Field(
        default_factory=list,
        description=(
            "'NETBLOCK ACTION' rules (allow, allow_snoop, allow_setrd, refuse, deny); the most "
            "specific wins; loopback is allowed unless a rule says otherwise; the rest refused"
        ),
    )
    max_udp_size: int = Field(
        4096, ge=512, le=65536, description="largest UDP reply; larger answers get TC=1"
    )
    incoming_num_tcp: int = Field(
        10, ge=0, description="client TCP connections at once (per worker); 0 = no TCP"
    )

    # -- upstream (Unbound names where they exist) --------------------------------------------
    tcp_upstream: bool = Field(False, description="query upstream over TCP only")
    tcp_idle_timeout: int = Field(
        30000,
        gt=0,
        description=(
            "ms a client TCP connection gets for its next whole query (partial data does not "
            "extend it); cut as TCP slots fill up, as in Unbound"
        ),
    )
    outbound_msg_retry: int = Field(2, ge=0, description="retries after the first try")
    upstream_timeout_ms: int = Field(1000, gt=0, description="dnslab: per-try upstream timeout")

    @model_validator(mode="before")
    @classmethod
    def _profile(cls, data: Any) -> Any:
        return with_profile(data) if isinstance(data, dict) else data

    @field_validator("send_client_subnet", mode="before")
    @classmethod
    def _one_address(cls, value: Any) -> Any:
        if isinstance(value, str) and value.lower() not in ("yes", "no", "true", "false"):
            return [value]  # Unbound writes one address per line
        return value

    @field_validator("access_control", mode="before")
    @classmethod
    def _rules(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]  # one rule per line in unbound.conf
        if isinstance(value, list):
            for rule in value:
                if isinstance(rule, str):
                    parse_rule(rule)  # ValueError names the rule and the problem
        return value

    @field_validator("msg_cache_size", mode="before")
    @classmethod
    def _entries_not_bytes(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                f"msg-cache-size = {value!r}: dnslab counts cache entries, not bytes; "
                "write a number of entries, e.g. msg-cache-size = 10000"
            )
        return value

    @field_validator("listen", "upstream", "metrics_listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:5301)")
        return value


def ecs_enabled(settings: ResolverSettings) -> bool:
    """``send-client-subnet``: a yes/no, or (Unbound) the upstream addresses that get ECS."""
    value = settings.send_client_subnet
    if isinstance(value, bool):
        return value
    host, _ = split_host_port(settings.upstream)
    return any(entry.split("@")[0].split("/")[0] == host for entry in value)


def split_host_port(value: str) -> tuple[str, int]:
    """``"127.0.0.1:5301"`` → ``("127.0.0.1", 5301)``; ``[::1]:53`` → ``("::1", 53)``."""
    host, _, port = value.rpartition(":")
    return host.strip("[]"), int(port)
