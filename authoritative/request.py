"""What a handler knows about one query: the question, the client, the transport, EDNS and ECS."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import dns.name

UDP = "udp"
TCP = "tcp"
ECS_OPTION = 8  # EDNS Client Subnet (RFC 7871)


@dataclass(frozen=True, slots=True)
class ClientSubnet:
    """A parsed, validated ECS option (RFC 7871 §6).

    ``address`` is the ADDRESS as sent (Knot accepts more bytes than the prefix needs and
    echoes them) with every bit beyond SOURCE PREFIX-LENGTH cleared.
    """

    family: int  # 1 = IPv4, 2 = IPv6
    source: int  # SOURCE PREFIX-LENGTH
    scope: int  # SCOPE PREFIX-LENGTH as sent (0 in well-formed queries)
    address: bytes

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        width = 4 if self.family == 1 else 16
        packed = (self.address + b"\x00" * width)[:width]
        return ipaddress.ip_network((packed, self.source))

    def option_wire(self, scope: int) -> bytes:
        """The option to echo in a reply, with our SCOPE PREFIX-LENGTH."""
        body = bytes((self.family >> 8, self.family & 0xFF, self.source, scope)) + self.address
        return bytes((0, ECS_OPTION, len(body) >> 8, len(body) & 0xFF)) + body


@dataclass(frozen=True, slots=True)
class Edns:
    payload: int  # requestor's UDP payload size as sent
    version: int
    do: bool
    options: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True)
class Request:
    """The request a handler sees (built only on a cache miss or for a dynamic name)."""

    qname: dns.name.Name
    qtype: int
    qclass: int
    transport: str  # "udp" or "tcp"
    client: tuple[str, int]
    edns: Edns | None = None
    ecs: ClientSubnet | None = None

    @property
    def client_ip(self) -> str:
        return self.client[0]
