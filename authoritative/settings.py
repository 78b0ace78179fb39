"""Server hardening settings: the anti-abuse part of ``[authoritative]`` (owned by authoritative/).

``lab.config.AuthoritativeSettings`` inherits these fields, so they are written directly under
``[authoritative]`` (and ``[authoritative.rrl]``) in lab.toml; docs/config.md lists them.
Defaults follow Knot DNS 3.2 where it has the same knob (``tcp-idle-timeout``,
``tcp-io-timeout``, ``tcp-max-clients``, ``mod-rrl``), see docs/authoritative.md.
"""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator

from authoritative.wirecache import DEFAULT_BYTES, DEFAULT_ENTRIES


def _networks(value: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for text in value:
        try:
            out.append(str(ipaddress.ip_network(text, strict=False)))
        except ValueError as exc:
            raise ValueError(f"{text!r} is not an address or network: {exc}") from None
    return tuple(out)


class RrlSettings(BaseModel):
    """Response rate limiting over UDP, Knot's ``mod-rrl`` semantics (present = on)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit: int = Field(ge=1)  # responses per second per bucket (Knot: rate-limit)
    slip: int = Field(
        default=1, ge=0, le=100
    )  # every Nth limited reply goes out truncated; 0: drop all
    table_size: int = Field(default=393241, ge=1)  # buckets (hash slots), as Knot's table-size
    whitelist: tuple[str, ...] = ()  # sources never limited (addresses or networks)
    ipv4_prefix: int = Field(default=24, ge=1, le=32)  # sources are grouped per /24 ...
    ipv6_prefix: int = Field(default=56, ge=1, le=128)  # ... and per /56, as Knot

    _nets = field_validator("whitelist")(_networks)


class ServerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    cache_entries: int = Field(default=DEFAULT_ENTRIES, ge=0)  # per wire cache (LRU)
    cache_bytes: int = Field(default=DEFAULT_BYTES, ge=0)  # all wire caches together (estimated)
    tcp_idle_timeout: float = Field(default=10.0, gt=0)  # between messages (Knot: tcp-idle-timeout)
    tcp_io_timeout: float = Field(default=0.5, gt=0)  # to receive one whole message, never extended
    tcp_max_connections: int = Field(default=256, ge=1)  # all sources (Knot: tcp-max-clients)
    tcp_max_per_source: int = Field(default=64, ge=1)  # from one address
    transfer_allow: tuple[str, ...] = ()  # AXFR/IXFR ACL (addresses or networks); empty: none
    rrl: RrlSettings | None = None  # [authoritative.rrl]: off unless the table is present

    _nets = field_validator("transfer_allow")(_networks)
