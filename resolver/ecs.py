"""EDNS Client Subnet (RFC 7871) for the resolver: what to forward, how to key the cache. Pure.

* **Forward**: the client's own ECS option if it sent one (truncated to the configured maximum),
  else the client's source address truncated to ``max-client-subnet-ipv4`` / ``-ipv6``
  (/24 and /56 by default, as Unbound). A client that sends SOURCE PREFIX-LENGTH 0 opts out:
  we forward prefix 0 and only answers cached for everyone can serve it (§7.1.2).
* **Cache** (§7.3): an answer whose SCOPE PREFIX-LENGTH is S serves any client in the same /S.
  Scope 0, or no ECS in the answer, means "for everyone" (``GLOBAL``). A scope longer than the
  source we sent is cut to the source (the server cannot know more than we told it — Unbound's
  subnetcache does the same).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

IPV4 = 1  # ECS FAMILY values (IANA address family numbers)
IPV6 = 2
_BITS = {IPV4: 32, IPV6: 128}


@dataclass(frozen=True, slots=True)
class ClientSubnet:
    """An ECS source: ``address`` (an int, already truncated) / ``source`` bits of ``family``."""

    family: int
    address: int
    source: int

    @classmethod
    def from_text(cls, address: str, source: int | None = None) -> ClientSubnet:
        ip = ipaddress.ip_address(address)
        family = IPV4 if ip.version == 4 else IPV6
        bits = _BITS[family]
        prefix = bits if source is None else source
        if not 0 <= prefix <= bits:
            raise ValueError(f"ECS source prefix {prefix} out of range for {address}")
        return cls(family, truncate(int(ip), prefix, bits), prefix)

    def truncated(self, prefix: int) -> ClientSubnet:
        """The same subnet cut to at most ``prefix`` bits."""
        if prefix >= self.source:
            return self
        return ClientSubnet(self.family, truncate(self.address, prefix, self.bits), prefix)

    @property
    def bits(self) -> int:
        return _BITS[self.family]

    def address_text(self) -> str:
        if self.family == IPV4:
            return str(ipaddress.IPv4Address(self.address))
        return str(ipaddress.IPv6Address(self.address))

    def __str__(self) -> str:
        return f"{self.address_text()}/{self.source}"


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of the address space a cached answer is valid for; ``prefix`` 0 = everyone."""

    family: int
    prefix: int
    network: int

    def covers(self, subnet: ClientSubnet | None) -> bool:
        """May an answer cached with this scope serve a client with this ECS source?"""
        if self.prefix == 0:
            return True
        if subnet is None or subnet.family != self.family or subnet.source < self.prefix:
            return False
        return truncate(subnet.address, self.prefix, subnet.bits) == self.network


GLOBAL = Scope(IPV4, 0, 0)


def truncate(address: int, prefix: int, bits: int) -> int:
    if prefix <= 0:
        return 0
    shift = bits - prefix
    return (address >> shift) << shift


def subnet_to_forward(
    client_address: str | None,
    client_ecs: ClientSubnet | None,
    *,
    enabled: bool,
    max_ipv4: int,
    max_ipv6: int,
) -> ClientSubnet | None:
    """The ECS option to send upstream for this client, or ``None`` to send none."""
    if not enabled:
        return None
    if client_ecs is None:
        if client_address is None:
            return None
        try:
            client_ecs = ClientSubnet.from_text(client_address)
        except ValueError:
            return None
    limit = max_ipv4 if client_ecs.family == IPV4 else max_ipv6
    return client_ecs.truncated(limit)


def scope_of(sent: ClientSubnet | None, returned_scope: int | None) -> Scope:
    """The cache scope of an answer to a query that carried ``sent``, answered with this scope."""
    if sent is None or not returned_scope:
        return GLOBAL
    prefix = min(returned_scope, sent.source)
    if prefix == 0:
        return GLOBAL
    return Scope(sent.family, prefix, truncate(sent.address, prefix, sent.bits))


def echo_matches(sent: ClientSubnet, family: int, address: int, source: int) -> bool:
    """RFC 7871 §7.3: family, source and address of the answer must echo the query's."""
    if family != sent.family or source != sent.source:
        return False
    return truncate(address, source, sent.bits) == sent.address
