"""Client location: which configured location a client address (or ECS subnet) is in.

Pure and immutable. ``GeoMap.locate(client)`` finds the client's longest matching configured
network in a table of address blocks precomputed from a binary trie (one binary search per
query; ``GeoMap.block`` is that search for the server's fast path), together with the ECS scope: the shortest prefix of the
client address whose whole block maps to the same location — usually the matched CIDR's own
prefix length (RFC 7871 §7.2.1), longer when a more specific network of another location sits
inside it, shorter when neighbouring networks agree. An optional MaxMind database
(``[geoip] mmdb``) is asked only when no configured network matches; configured networks win.
"""

from __future__ import annotations

import bisect
import ipaddress
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (address) -> (record or None, prefix length); maxminddb.Reader.get_with_prefix_len fits.
GeoIPLookup = Callable[[str], tuple[Any, int]]


def parse_ip(text: str) -> IPAddress:
    """``ipaddress.ip_address`` for the query path (inet_pton is ~4x faster); ValueError if bad."""
    try:
        if ":" in text:
            return ipaddress.IPv6Address(socket.inet_pton(socket.AF_INET6, text.split("%")[0]))
        return ipaddress.IPv4Address(socket.inet_pton(socket.AF_INET, text))
    except OSError:
        raise ValueError(f"{text!r} is not an IP address") from None


@dataclass(frozen=True)
class Client:
    """Who asks: the ECS subnet if the query carried one, else the packet's source address."""

    address: IPAddress
    source_prefix: int | None = None  # ECS SOURCE PREFIX-LENGTH; None: a full source address
    via: Literal["ecs", "source"] = "source"

    @classmethod
    def from_source(cls, address: str) -> Client:
        return cls(parse_ip(address))

    @classmethod
    def from_ecs(cls, address: str, source_prefix: int) -> Client:
        addr = ipaddress.ip_address(address)
        net = ipaddress.ip_network((addr, source_prefix), strict=False)
        return cls(net.network_address, source_prefix, "ecs")

    @property
    def family_bits(self) -> int:
        return self.address.max_prefixlen

    def describe(self) -> str:
        if self.via == "ecs":
            return f"ECS {self.address}/{self.source_prefix}"
        if self.source_prefix == 0:
            return f"source address {self.address} (ECS /0: client subnet withheld)"
        return f"source address {self.address}"


@dataclass(frozen=True)
class Located:
    location: str | None  # None: in no location (the 'default' order applies)
    net: str | None  # the map entry that decided: a CIDR, or 'geoip:country:DE/20'
    scope: int  # ECS scope prefix length for answers that depend on the location
    client: Client

    def describe(self) -> str:
        where = self.location if self.location is not None else "no location"
        by = f"matched {self.net}" if self.net else "no network matched"
        return f"{self.client.describe()} -> {where} ({by}, scope /{self.scope})"


@dataclass
class _Node:
    location: str | None = None  # a network ends here
    net: str | None = None
    children: list[_Node | None] = field(default_factory=lambda: [None, None])
    below: frozenset[str] = frozenset()  # locations of networks strictly below this node
    covered: str | None = None  # a location that covers this whole block by itself
    only: str | None = None  # the one location below, if exactly one


def _bits(addr: IPAddress) -> Callable[[int], int]:
    value, width = int(addr), addr.max_prefixlen
    return lambda depth: (value >> (width - 1 - depth)) & 1


def _finish(node: _Node) -> frozenset[str]:
    locs: set[str] = set()
    for child in node.children:
        if child is not None:
            locs |= _finish(child)
    node.below = frozenset(locs)
    node.only = next(iter(locs)) if len(locs) == 1 else None
    c0, c1 = node.children
    if node.location is not None and node.below <= {node.location}:
        node.covered = node.location
    elif c0 is not None and c1 is not None and c0.covered is not None:
        node.covered = c0.covered if c0.covered == c1.covered else None
    return node.below | ({node.location} if node.location is not None else set())


def _flatten(
    node: _Node,
    width: int,
    depth: int,
    prefix: int,
    location: str | None,
    net: str | None,
    scope: int | None,
    out: list[tuple[int, tuple[str | None, str | None, int]]],
) -> None:
    """The trie as disjoint address blocks in order, each with the result of the longest-
    prefix walk for every address in it: (location, net, ECS scope). The walk: a network on
    the way is the match so far; the scope is the first depth whose whole block maps to the
    match; it stops where nothing more specific lies below (or the trie ends)."""
    if node.location is not None:
        location, net = node.location, node.net
    below = node.below
    if scope is None and (
        node.covered is not None or not below or (location is not None and node.only == location)
    ):
        scope = depth  # the whole block below maps to `location`
    if not below or depth == width:
        out.append((prefix, (location, net, depth if scope is None else scope)))
        return
    for bit in (0, 1):
        start = prefix | (bit << (width - 1 - depth))
        child = node.children[bit]
        if child is None:  # the walk leaves the trie here: nothing more specific below
            out.append((start, (location, net, depth + 1 if scope is None else scope)))
        else:
            _flatten(child, width, depth + 1, start, location, net, scope, out)


class GeoMap:
    """Networks → locations, for both address families."""

    def __init__(
        self,
        nets: Mapping[str, tuple[str, ...]],
        geoip: Mapping[str, tuple[str, ...]] | None = None,
        geoip_lookup: GeoIPLookup | None = None,
    ) -> None:
        self._roots = {32: _Node(), 128: _Node()}
        for location, cidrs in nets.items():
            for cidr in cidrs:
                self._insert(ipaddress.ip_network(cidr), location)
        self._starts: dict[int, list[int]] = {}
        self._results: dict[int, list[tuple[str | None, str | None, int]]] = {}
        for width, root in self._roots.items():
            _finish(root)
            blocks: list[tuple[int, tuple[str | None, str | None, int]]] = []
            _flatten(root, width, 0, 0, None, None, None, blocks)
            self._starts[width] = [start for start, _ in blocks]
            self._results[width] = [result for _, result in blocks]
        self._codes: dict[str, str] = {}
        for location, codes in (geoip or {}).items():
            for code in codes:
                self._codes.setdefault(code, location)
        self._geoip_lookup = geoip_lookup

    def _insert(self, net: ipaddress.IPv4Network | ipaddress.IPv6Network, location: str) -> None:
        node = self._roots[net.max_prefixlen]
        bit = _bits(net.network_address)
        for depth in range(net.prefixlen):
            b = bit(depth)
            nxt = node.children[b]
            if nxt is None:
                nxt = node.children[b] = _Node()
            node = nxt
        node.location, node.net = location, str(net)

    def block(self, width: int, value: int) -> int:
        """The index of the block of the map holding address ``value`` (an int of ``width``
        bits): one binary search in the precomputed table (``locate`` reads the same)."""
        return bisect.bisect_right(self._starts[width], value) - 1

    def block_result(self, width: int, index: int) -> tuple[str | None, str | None, int]:
        """(location, matched network, ECS scope) of a block; location None: no network."""
        return self._results[width][index]

    @property
    def uses_geoip(self) -> bool:
        """A GeoIP database is asked for addresses no network matches (not in the table)."""
        return self._geoip_lookup is not None

    def locate(self, client: Client) -> Located:
        addr = client.address
        width = addr.max_prefixlen
        location, net, scope = self._results[width][self.block(width, int(addr))]
        if location is None and self._geoip_lookup is not None:
            found = self._geoip(addr)
            if found is not None:
                location, net, prefix = found
                scope = max(scope, prefix)
        return Located(location, net, scope, client)

    def _geoip(self, addr: IPAddress) -> tuple[str, str, int] | None:
        assert self._geoip_lookup is not None
        record, prefix = self._geoip_lookup(str(addr))
        if not isinstance(record, dict):
            return None
        country = (record.get("country") or {}).get("iso_code")
        continent = (record.get("continent") or {}).get("code")
        for code in (f"country:{country}", f"continent:{continent}"):
            if code in self._codes:
                net = ipaddress.ip_network((addr, prefix), strict=False)
                return self._codes[code], f"geoip {code} ({net} in the database)", prefix
        return None


def geomap_from_config(cfg: Any, open_mmdb: Callable[[str], GeoIPLookup] | None = None) -> GeoMap:
    """Build the map from a ``LabConfig``; ``open_mmdb(path)`` opens the MaxMind database."""
    lookup = None
    if cfg.geoip.mmdb is not None:
        if open_mmdb is None:
            open_mmdb = open_maxmind
        lookup = open_mmdb(str(cfg.path(cfg.geoip.mmdb)))
    return GeoMap(
        {name: loc.nets for name, loc in cfg.locations.items()},
        {name: loc.geoip for name, loc in cfg.locations.items()},
        lookup,
    )


def open_maxmind(path: str) -> GeoIPLookup:
    """Open a .mmdb with ``maxminddb`` (in memory, so lookups never touch the disk)."""
    import maxminddb

    from lab.errors import ConfigError

    try:
        reader = maxminddb.open_database(path, maxminddb.MODE_MEMORY)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"geoip.mmdb: cannot open {path}: {exc}") from None
    get: GeoIPLookup = reader.get_with_prefix_len
    return get
