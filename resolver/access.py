"""Who may query the resolver: Unbound's ``access-control`` (pure).

Each rule is ``NETBLOCK ACTION`` as in unbound.conf (``access-control: 10.0.0.0/8 allow``);
the most specific netblock that contains the client's address decides, and an address no rule
covers is refused. As in Unbound, the loopback rules ``127.0.0.0/8 allow``, ``::1 allow`` and
``::ffff:127.0.0.1 allow`` are always there unless a rule names the same netblock. Actions:

* ``allow``: recursive queries (RD=1) are answered; non-recursive ones (RD=0) are REFUSED.
* ``allow_snoop``: RD=0 queries too, answered from the cache only (SERVFAIL when not cached).
* ``allow_setrd``: every query is treated as if RD were set.
* ``refuse``: a REFUSED header comes back (no question, as Unbound's).
* ``deny``: dropped without a reply (TCP connections are closed).

Unbound's ``deny_non_local`` and ``refuse_non_local`` concern its local-data, which dnslab
does not have; they are refused with a message saying so.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal

Action = Literal["allow", "allow_snoop", "allow_setrd", "refuse", "deny"]
ACTIONS: tuple[Action, ...] = ("allow", "allow_snoop", "allow_setrd", "refuse", "deny")
UNSUPPORTED = {
    "deny_non_local": "it concerns Unbound's local-data, which dnslab has none of",
    "refuse_non_local": "it concerns Unbound's local-data, which dnslab has none of",
}
DEFAULT_RULES = ("127.0.0.0/8 allow", "::1 allow", "::ffff:127.0.0.1 allow")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_rule(text: str) -> tuple[Network, Action]:
    """``"10.0.0.0/8 allow"`` → (network, action); ValueError naming the problem otherwise."""
    parts = text.split()
    if len(parts) != 2:
        raise ValueError(f"{text!r}: write 'NETBLOCK ACTION', e.g. '10.0.0.0/8 allow'")
    block, action = parts[0], parts[1].lower()
    if action in UNSUPPORTED:
        raise ValueError(f"{text!r}: action {action!r} is not supported ({UNSUPPORTED[action]})")
    if action not in ACTIONS:
        raise ValueError(f"{text!r}: unknown action {action!r} (one of {', '.join(ACTIONS)})")
    try:
        network = ipaddress.ip_network(block, strict=False)
    except ValueError:
        raise ValueError(f"{text!r}: {block!r} is not an IP address or netblock") from None
    return network, action


class AccessControl:
    """The action for a client address: longest-prefix match over the rules, cached per
    address (a bounded dict) so a packet costs one dictionary lookup."""

    def __init__(self, rules: Iterable[str] = (), cache_limit: int = 4096) -> None:
        table: dict[Network, Action] = {}
        for rule in (*DEFAULT_RULES, *rules):  # later rules win for the same netblock
            network, action = parse_rule(rule)
            table[network] = action
        self.rules = table
        self._by_length: dict[tuple[int, int], dict[int, Action]] = {}
        for network, action in table.items():
            key = (network.version, network.prefixlen)
            self._by_length.setdefault(key, {})[int(network.network_address)] = action
        self._lengths = sorted(self._by_length, key=lambda k: -k[1])
        self._cache: dict[str, Action] = {}
        self._limit = cache_limit

    def action(self, address: str) -> Action:
        found = self._cache.get(address)
        if found is None:
            found = self._lookup(address)
            if len(self._cache) >= self._limit:
                self._cache.clear()
            self._cache[address] = found
        return found

    def _lookup(self, address: str) -> Action:
        try:
            ip = ipaddress.ip_address(address.split("%")[0])
        except ValueError:
            return "refuse"
        bits = ip.max_prefixlen
        value = int(ip)
        for version, length in self._lengths:
            if version != ip.version:
                continue
            network = (value >> (bits - length)) << (bits - length) if length else 0
            action = self._by_length[(version, length)].get(network)
            if action is not None:
                return action
        return "refuse"
