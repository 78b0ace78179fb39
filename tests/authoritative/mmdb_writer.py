"""A tiny MaxMind DB (v2) writer for tests: IPv4 networks → small records (maps of strings).

Only what the tests need: 24-bit records, strings, maps, unsigned ints, arrays. The format is
the public MaxMind DB spec (search tree, 16-byte separator, data section, metadata).
"""

from __future__ import annotations

import ipaddress
from typing import Any


def _uint(type_bits: int, value: int) -> bytes:
    raw = value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big") if value else b""
    return bytes([type_bits << 5 | len(raw)]) + raw


def encode(value: Any) -> bytes:
    if isinstance(value, str):
        raw = value.encode()
        assert len(raw) < 29
        return bytes([2 << 5 | len(raw)]) + raw
    if isinstance(value, dict):
        out = bytes([7 << 5 | len(value)])
        for k, v in value.items():
            out += encode(k) + encode(v)
        return out
    if isinstance(value, list):
        return bytes([len(value), 11 - 7]) + b"".join(encode(v) for v in value)
    if isinstance(value, tuple):  # (kind, int): explicit integer width
        kind, n = value
        if kind == "u16":
            return _uint(5, n)
        if kind == "u32":
            return _uint(6, n)
        raw = n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big") if n else b""
        return bytes([len(raw), 9 - 7]) + raw  # u64 (extended type)
    raise TypeError(value)


def write_mmdb(networks: dict[str, dict[str, Any]]) -> bytes:
    # binary trie: node = [left, right]; a child is a node index, ("data", i) or None
    nodes: list[list[Any]] = [[None, None]]
    data = b""
    for cidr, record in networks.items():
        net = ipaddress.IPv4Network(cidr)
        offset = len(data)
        data += encode(record)
        node = 0
        bits = int(net.network_address)
        for depth in range(net.prefixlen):
            bit = (bits >> (31 - depth)) & 1
            if depth == net.prefixlen - 1:
                nodes[node][bit] = ("data", offset)
            else:
                if not isinstance(nodes[node][bit], int):
                    nodes.append([None, None])
                    nodes[node][bit] = len(nodes) - 1
                node = nodes[node][bit]
    count = len(nodes)

    def record(child: Any) -> int:
        if child is None:
            return count
        if isinstance(child, int):
            return child
        return count + 16 + child[1]

    tree = b"".join(
        record(left).to_bytes(3, "big") + record(right).to_bytes(3, "big") for left, right in nodes
    )
    meta = {
        "binary_format_major_version": ("u16", 2),
        "binary_format_minor_version": ("u16", 0),
        "build_epoch": ("u64", 1_700_000_000),
        "database_type": "Test-Country",
        "description": {"en": "dnslab test"},
        "ip_version": ("u16", 4),
        "languages": ["en"],
        "node_count": ("u32", count),
        "record_size": ("u16", 24),
    }
    return tree + b"\x00" * 16 + data + b"\xab\xcd\xefMaxMind.com" + encode(meta)
