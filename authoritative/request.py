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

    ``address`` is the ADDRESS as sent: exactly the bytes SOURCE PREFIX-LENGTH needs, no
    bit set beyond it (anything else is FORMERR, see ``wire.parse_ecs``).
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


class Request:
    """The request a handler sees: built for a dynamic name (every query) or on a cache miss.

    ``qname`` and ``edns`` are decoded lazily from the query bytes, so a provider's ``variant``
    that reads only ``client`` and ``ecs`` costs no name parsing.
    """

    __slots__ = (
        "_edns",
        "_opt",
        "_qname",
        "_wire",
        "client",
        "ecs",
        "qclass",
        "qtype",
        "transport",
    )

    def __init__(
        self,
        qname: dns.name.Name | None,
        qtype: int,
        qclass: int,
        transport: str,
        client: tuple[str, int],
        edns: Edns | None = None,
        ecs: ClientSubnet | None = None,
        *,
        wire: bytes = b"",
        opt: tuple[int, int, int, int, tuple[tuple[int, bytes], ...]] | None = None,
    ) -> None:
        self._qname = qname
        self._wire = wire  # the query, to decode qname from when it was not given
        self._edns = edns
        self._opt = opt  # the parsed OPT fields, to build ``edns`` from when it was not given
        self.qtype = qtype
        self.qclass = qclass
        self.transport = transport  # "udp" or "tcp"
        self.client = client
        self.ecs = ecs

    @property
    def qname(self) -> dns.name.Name:
        if self._qname is None:
            self._qname = dns.name.from_wire(self._wire, 12)[0]
        return self._qname

    @property
    def edns(self) -> Edns | None:
        if self._edns is None and self._opt is not None:
            payload, _ext, version, flags, options = self._opt
            self._edns = Edns(payload, version, bool(flags & 0x8000), options)
        return self._edns

    @property
    def client_ip(self) -> str:
        return self.client[0]

    def __repr__(self) -> str:
        return (
            f"Request({self.qname}, {self.qtype}, {self.qclass}, {self.transport}, "
            f"{self.client}, {self.edns}, {self.ecs})"
        )
