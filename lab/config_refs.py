"""Cross references in lab.toml: every region, location and zone a field names must exist.

``check_references(cfg)`` returns ``["dotted.path: problem (what is known)", ...]``; the loader
prefixes each with the file name. Pure: reads the parsed model only (no file access).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lab.config import LabConfig, Service

USES = {  # which policy reads which field
    "geo-failover": "order",
    "failover": "regions",
    "multivalue": "regions",
    "latency": "regions",
    "weighted": "weights",
}


def _known(names: list[str]) -> str:
    return ", ".join(names) if names else "none defined"


def _region_list(path: str, regions: tuple[str, ...], cfg: LabConfig) -> list[str]:
    out = []
    if not regions:
        out.append(f"{path}: needs at least one region (known: {_known(list(cfg.regions))})")
    seen: set[str] = set()
    for i, region in enumerate(regions):
        if region not in cfg.regions:
            out.append(
                f"{path}[{i}]: unknown region {region!r} (known: {_known(list(cfg.regions))})"
            )
        elif region in seen:
            out.append(f"{path}[{i}]: region {region!r} is listed twice")
        seen.add(region)
    return out


def _service(key: str, svc: Service, cfg: LabConfig) -> list[str]:
    base = f"services.{key}"
    out: list[str] = []
    used = USES[svc.policy]
    for field in ("order", "regions", "weights"):
        if field != used and getattr(svc, field):
            out.append(
                f"{base}.{field}: not used by policy {svc.policy!r} (it reads '{used}'); remove it"
            )
    if svc.policy == "geo-failover":
        if not svc.order:
            out.append(f"{base}.order: policy 'geo-failover' needs an order per location")
        locs = list(cfg.locations)
        for loc, regions in svc.order.items():
            if loc != "default" and loc not in cfg.locations:
                out.append(
                    f"{base}.order.{loc}: unknown location {loc!r} "
                    f"(known: {_known(locs)}, or 'default' for unmatched clients)"
                )
            out.extend(_region_list(f"{base}.order.{loc}", regions, cfg))
        missing = [loc for loc in locs if loc not in svc.order]
        if svc.order and missing and "default" not in svc.order:
            out.append(
                f"{base}.order: no order for location(s) {', '.join(missing)}; "
                "add them or a 'default' order"
            )
    elif svc.policy == "weighted":
        if not svc.weights:
            out.append(f"{base}.weights: policy 'weighted' needs weights = {{region = N, ...}}")
        for region in svc.weights:
            if region not in cfg.regions:
                out.append(
                    f"{base}.weights.{region}: unknown region {region!r} "
                    f"(known: {_known(list(cfg.regions))})"
                )
        if svc.weights and sum(svc.weights.values()) == 0:
            out.append(f"{base}.weights: all weights are 0; at least one must be > 0")
    else:
        out.extend(_region_list(f"{base}.regions", svc.regions, cfg))
    if svc.ttl_policy == "dynamic" and svc.ttl_min > svc.ttl_ceiling:
        out.append(f"{base}.ttl_min: {svc.ttl_min} is above ttl_max {svc.ttl_ceiling}")
    zones = list(cfg.authoritative.zones)
    if zones and not any(svc.name == z or svc.name.endswith("." + z) for z in zones):
        out.append(f"{base}.name: {svc.name!r} is not inside any zone (zones: {_known(zones)})")
    return out


def check_references(cfg: LabConfig) -> list[str]:
    out: list[str] = []
    names: dict[str, str] = {}
    for key, svc in cfg.services.items():
        out.extend(_service(key, svc, cfg))
        if svc.name in names:
            out.append(f"services.{key}.name: {svc.name!r} is also services.{names[svc.name]}")
        names.setdefault(svc.name, key)
    seen: dict[str, str] = {}
    for i, checker in enumerate(cfg.checkers):
        if checker.name in seen:
            out.append(f"checkers[{i}].name: {checker.name!r} is used twice")
        seen[checker.name] = checker.name
        if checker.location is not None and checker.location not in cfg.locations:
            out.append(
                f"checkers[{i}].location: unknown location {checker.location!r} "
                f"(known: {_known(list(cfg.locations))})"
            )
    quorum = cfg.authoritative.quorum
    if isinstance(quorum, int) and quorum > len(cfg.checkers):
        out.append(
            f"authoritative.quorum: {quorum} of {len(cfg.checkers)} checkers can never be reached"
        )
    for name, region in cfg.regions.items():
        if region.check is None and region.listen is None:
            out.append(f"regions.{name}: needs check = URL or listen = HOST:PORT to be probed")
    out.extend(_addresses(cfg))
    owner: dict[str, str] = {}
    for name, loc in cfg.locations.items():
        for i, net in enumerate(loc.nets):
            if net in owner and owner[net] != name:
                out.append(f"locations.{name}.nets[{i}]: {net} is also in location {owner[net]!r}")
            owner.setdefault(net, name)
        if loc.geoip and cfg.geoip.mmdb is None:
            out.append(f"locations.{name}.geoip: needs [geoip] mmdb = PATH to a MaxMind database")
    return out


def listeners(cfg: LabConfig) -> list[tuple[str, str, str]]:
    """Every (field, HOST:PORT, protocol) the lab listens on."""
    out: list[tuple[str, str, str]] = []
    a, res = cfg.authoritative, cfg.resolver
    fields: list[tuple[str, str | None, tuple[str, ...]]] = [
        ("authoritative.listen", a.listen, ("udp", "tcp")),
        ("authoritative.admin_listen", a.admin_listen, ("tcp",)),
        *((f"checkers[{i}].listen", c.listen, ("tcp",)) for i, c in enumerate(cfg.checkers)),
        *((f"regions.{n}.listen", r.listen, ("tcp",)) for n, r in cfg.regions.items()),
        ("resolver.listen", getattr(res, "listen", None), ("udp", "tcp")),
        ("resolver.metrics_listen", getattr(res, "metrics_listen", None), ("tcp",)),
    ]
    for field, value, protos in fields:
        out.extend((field, value, proto) for proto in protos if value)
    return out


def _addresses(cfg: LabConfig) -> list[str]:
    """Two listeners of one lab on one HOST:PORT would fight for it (the second one fails
    to start, or — with SO_REUSEPORT — steals half the traffic)."""
    out: list[str] = []
    taken: dict[tuple[str, str], str] = {}
    for field, value, proto in listeners(cfg):
        key = (proto, value.lower())
        if key in taken:
            msg = f"{field}: {value} is also {taken[key]}"
            if msg not in out:  # once, not once per protocol (DNS listens on UDP and TCP)
                out.append(msg)
        else:
            taken[key] = field
    return out


def not_loopback(cfg: LabConfig) -> list[str]:
    """Listeners outside 127.0.0.0/8 and ::1 (allowed, but the threat model of
    docs/security.md assumes loopback: say so)."""
    out: list[str] = []
    for field, value, _ in listeners(cfg):
        host = value.rpartition(":")[0].strip("[]")
        try:
            loop = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loop = host.lower() == "localhost"
        line = f"{field}: {value} is not loopback (reachable beyond this host; docs/security.md)"
        if not loop and line not in out:
            out.append(line)
    return out
