"""Load an RFC 1035 master file into a :class:`~authoritative.zone.Zone`, or say exactly why not.

dnspython's master-file reader parses the text (its errors carry ``file:line``); a small
transaction records the line of every RRset so the semantic checks below can name it too.
A zone that fails any check raises :class:`~lab.errors.ZoneError` listing every problem;
nothing half-loaded is ever returned.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tokenizer
import dns.zonefile

from authoritative.zone import Node, Zone
from lab.errors import ZoneError

CNAME = dns.rdatatype.CNAME
DNSSEC_TYPES = frozenset({dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3})


@dataclass
class LoadedZone:
    zone: Zone
    warnings: list[str] = field(default_factory=list)


class _Manager(dns.zonefile.RRSetsReaderManager):
    def __init__(self, origin: dns.name.Name | None) -> None:
        super().__init__(origin, False, dns.rdataclass.IN)
        self.lines: dict[tuple[dns.name.Name, int], str] = {}  # first "file:line" of each RRset
        self.ttls: dict[tuple[dns.name.Name, int], int] = {}  # last TTL given to each RRset
        self.where = ""  # "file:line" where the record being read starts
        self.outside: list[tuple[str, dns.name.Name | None]] = []  # out-of-zone owners skipped
        self.failed_name: dns.name.Name | None = None

    def writer(self, replacement: bool = False) -> _Txn:
        return _Txn(self, True, False)  # type: ignore[no-untyped-call]

    def origin_information(self) -> tuple[dns.name.Name | None, bool, dns.name.Name | None]:
        return (self.origin, False, self.origin)


class _Txn(dns.zonefile.RRsetsReaderTransaction):
    manager: _Manager

    def add(self, *args: Any) -> None:
        if len(args) == 3 and isinstance(args[1], int):  # the reader's add(name, ttl, rdata)
            name, ttl, rdata = args
            self.manager.ttls[(name, int(rdata.rdtype))] = ttl  # Knot keeps the last TTL
        super().add(*args)

    def _put_rdataset(self, name: dns.name.Name, rdataset: Any) -> None:
        self.manager.lines.setdefault((name, int(rdataset.rdtype)), self.manager.where)
        super()._put_rdataset(name, rdataset)  # type: ignore[no-untyped-call]

    def _set_origin(self, origin: dns.name.Name) -> None:
        if self.manager.origin is None:
            self.manager.origin = origin


class _Reader(dns.zonefile.Reader):
    """dnspython's reader, noting where each record starts and which owners it skipped."""

    manager: _Manager

    def _rr_line(self) -> None:
        filename, line = self.tok.where()
        self.manager.where = f"{filename}:{line}"
        try:
            super()._rr_line()
        except dns.exception.DNSException:
            self.manager.failed_name = self.last_name
            raise

    def _eat_line(self) -> None:
        self.manager.outside.append((self.manager.where, self.last_name))
        super()._eat_line()  # type: ignore[no-untyped-call]


def parse_zone_arg(arg: str) -> tuple[str | None, str]:
    """``ORIGIN=FILE`` or ``FILE`` (origin then comes from the file's ``$ORIGIN``)."""
    if "=" in arg:
        origin, path = arg.split("=", 1)
        return (origin or None), path
    return None, arg


def load_zone(path: str, origin: str | None = None) -> LoadedZone:
    """Read and check a master file. Raises ZoneError naming ``file:line: problem``."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ZoneError(f"{path}: cannot read zone file: {exc.strerror}") from None
    return load_zone_text(text, path, origin)


def load_zone_text(text: str, filename: str, origin: str | None = None) -> LoadedZone:
    text = resolve_includes(text, filename)
    try:
        origin_name = dns.name.from_text(origin) if origin else None
    except dns.exception.DNSException as exc:
        raise ZoneError(f"{filename}: bad origin {origin!r}: {exc}") from None
    manager = _Manager(origin_name)
    try:
        with manager.writer(True) as txn:
            tok = dns.tokenizer.Tokenizer(text, filename)
            reader = _Reader(tok, dns.rdataclass.IN, txn, allow_include=True)
            reader.manager = manager
            reader.read()
    except dns.exception.DNSException as exc:
        raise ZoneError(_syntax_message(filename, manager, exc)) from None
    except OSError as exc:  # an $INCLUDE inside an included file that cannot be read
        raise ZoneError(f"{manager.where or filename}: $INCLUDE: {exc}") from None
    if manager.origin is None:
        raise ZoneError(f"{filename}: no origin: add a $ORIGIN line or pass ORIGIN={filename}")
    outside = [
        f"{where}: {name} is outside the zone {manager.origin}; remove it or fix the owner name"
        for where, name in manager.outside
    ]
    rrsets = [_last_ttl(rrset, manager.ttls) for rrset in manager.rrsets]
    return build_zone(manager.origin, rrsets, manager.lines, filename, outside)


def _last_ttl(
    rrset: dns.rrset.RRset, ttls: dict[tuple[dns.name.Name, int], int]
) -> dns.rrset.RRset:
    """Records of one RRset with different TTLs: the whole RRset takes the last one (Knot)."""
    ttl = ttls.get((rrset.name, int(rrset.rdtype)))
    if ttl is not None:
        rrset.ttl = ttl
    return rrset


INCLUDE = re.compile(r"^(\$INCLUDE[ \t]+)(\S+)", re.IGNORECASE | re.MULTILINE)


def resolve_includes(text: str, filename: str) -> str:
    """Make relative ``$INCLUDE`` paths relative to the including file's directory (as Knot,
    BIND and NSD do), and name a missing one by file and line."""
    base = Path(filename).parent

    def fix(match: re.Match[str]) -> str:
        path = Path(match.group(2).strip('"'))
        if not path.is_absolute():
            path = base / path
        if not path.is_file():
            line = text.count("\n", 0, match.start()) + 1
            raise ZoneError(
                f"{filename}:{line}: $INCLUDE {match.group(2)}: no such file "
                f"(relative paths are taken from {base or '.'})"
            )
        return match.group(1) + str(path)

    return INCLUDE.sub(fix, text)


def _syntax_message(filename: str, manager: _Manager, exc: Exception) -> str:
    """dnspython's message, with the line where the record starts (it counts the line after)."""
    msg = str(exc)
    if msg.startswith(f"{filename}:"):
        msg = msg.split(": ", 1)[-1]
    if "not compatible" in msg:
        msg = (
            f"CNAME beside other data at {manager.failed_name}; a name with a CNAME can hold "
            "nothing else (RFC 1034 §3.6.2)"
        )
    if "Unknown origin" in msg or isinstance(exc, dns.zonefile.UnknownOrigin):
        return f"{filename}: no origin: add a $ORIGIN line or pass ORIGIN={filename}"
    return f"{manager.where or filename + ':1'}: {msg}"


def build_zone(
    origin: dns.name.Name,
    rrsets: Iterable[dns.rrset.RRset],
    lines: dict[tuple[dns.name.Name, int], str],
    filename: str,
    problems: Iterable[str] = (),
) -> LoadedZone:
    errors: list[str] = list(problems)
    warnings: list[str] = []
    nodes: dict[dns.name.Name, dict[int, dns.rrset.RRset]] = {}
    count = 0

    def where(name: dns.name.Name, rdtype: int) -> str:
        return lines.get((name, rdtype), filename)

    for rrset in rrsets:
        rdtype = int(rrset.rdtype)
        if not rrset.name.is_subdomain(origin):
            errors.append(
                f"{where(rrset.name, rdtype)}: {rrset.name} is outside the zone {origin}; "
                "remove it or fix the owner name"
            )
            continue
        if rrset.rdclass != dns.rdataclass.IN:
            errors.append(f"{where(rrset.name, rdtype)}: only class IN is served")
            continue
        nodes.setdefault(rrset.name, {})[rdtype] = canonical_order(rrset)
        count += len(rrset)
    errors += _check_semantics(origin, nodes, where)
    cuts = frozenset(n for n, node in nodes.items() if dns.rdatatype.NS in node and n != origin)
    warnings += _check_glue(origin, nodes, cuts, where)
    if errors:
        raise ZoneError("\n".join(errors))
    soa = nodes[origin][dns.rdatatype.SOA]
    negative = dns.rrset.from_rdata_list(origin, min(soa.ttl, soa[0].minimum), list(soa))
    names: set[dns.name.Name] = set()
    for name in nodes:
        while name not in names and name.is_subdomain(origin):
            names.add(name)
            if name == origin:
                break
            name = name.parent()
    frozen: dict[dns.name.Name, Node] = {
        name: dict(sorted(node.items())) for name, node in nodes.items()
    }
    dnames = frozenset(n for n, node in nodes.items() if dns.rdatatype.DNAME in node)
    zone = Zone(origin, frozen, frozenset(names), cuts, dnames, soa, negative, filename, count)
    return LoadedZone(zone, warnings)


def canonical_order(rrset: dns.rrset.RRset) -> dns.rrset.RRset:
    """The RRset with its records in canonical (RFC 4034 §6.3) order, as Knot DNS keeps them."""
    ordered = dns.rrset.RRset(rrset.name, rrset.rdclass, rrset.rdtype, rrset.covers)
    ordered.update_ttl(rrset.ttl)
    for rdata in sorted(rrset, key=lambda rd: rd.to_digestable()):
        ordered.add(rdata)
    return ordered


def _check_semantics(
    origin: dns.name.Name, nodes: dict[dns.name.Name, dict[int, dns.rrset.RRset]], where: Any
) -> list[str]:
    errors: list[str] = []
    apex = nodes.get(origin, {})
    if dns.rdatatype.SOA not in apex:
        errors.append(
            f"{where(origin, dns.rdatatype.SOA)}: no SOA record at the origin {origin}; add one"
        )
    elif len(apex[dns.rdatatype.SOA]) != 1:
        errors.append(f"{where(origin, dns.rdatatype.SOA)}: more than one SOA record at {origin}")
    if dns.rdatatype.NS not in apex:
        errors.append(
            f"{where(origin, dns.rdatatype.NS)}: no NS records at the origin {origin}; add at least one"
        )
    for name, node in nodes.items():
        if dns.rdatatype.SOA in node and name != origin:
            errors.append(
                f"{where(name, dns.rdatatype.SOA)}: SOA record below the origin at {name}"
            )
        if CNAME in node:
            if len(node[CNAME]) > 1:
                errors.append(f"{where(name, CNAME)}: more than one CNAME at {name}")
            others = [t for t in node if t != CNAME and t not in DNSSEC_TYPES]
            if others:
                kinds = ", ".join(dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in others)
                errors.append(
                    f"{where(name, CNAME)}: CNAME at {name} beside other data ({kinds}); "
                    "a name with a CNAME can hold nothing else (RFC 1034 §3.6.2)"
                )
            if name == origin:
                errors.append(f"{where(name, CNAME)}: CNAME at the zone origin {name}")
    return errors


def _check_glue(
    origin: dns.name.Name,
    nodes: dict[dns.name.Name, dict[int, dns.rrset.RRset]],
    cuts: frozenset[dns.name.Name],
    where: Any,
) -> list[str]:
    warnings: list[str] = []
    for cut in sorted(cuts):
        for rdata in nodes[cut][dns.rdatatype.NS]:
            target = rdata.target
            if not target.is_subdomain(cut):
                continue
            node = nodes.get(target, {})
            if dns.rdatatype.A not in node and dns.rdatatype.AAAA not in node:
                warnings.append(
                    f"{where(cut, dns.rdatatype.NS)}: warning: glue missing for {target} "
                    f"(NS of the delegation {cut}); add an A or AAAA record"
                )
    return warnings


def load_zones(args: list[str], warn: Any = None) -> dict[dns.name.Name, Zone]:
    """Load every ``FILE`` / ``ORIGIN=FILE``; all problems of all files in one ZoneError."""
    zones: dict[dns.name.Name, Zone] = {}
    problems: list[str] = []
    for arg in args:
        origin, path = parse_zone_arg(arg)
        try:
            loaded = load_zone(path, origin)
        except ZoneError as exc:
            problems.append(str(exc))
            continue
        if loaded.zone.origin in zones:
            problems.append(
                f"{path}: zone {loaded.zone.origin} is already loaded from {zones[loaded.zone.origin].source}"
            )
            continue
        zones[loaded.zone.origin] = loaded.zone
        if warn is not None:
            for warning in loaded.warnings:
                warn(warning)
    if problems:
        raise ZoneError("\n".join(problems))
    return zones
