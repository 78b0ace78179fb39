"""Load an RFC 1035 master file into a :class:`~authoritative.zone.Zone`, or say exactly why not.

dnspython's master-file reader parses the text (its errors carry ``file:line``); a small
transaction records the line of every RRset so the semantic checks below can name it too.
A zone that fails any check raises :class:`~lab.errors.ZoneError` listing every problem;
nothing half-loaded is ever returned.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.node
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.CNAME
import dns.rdtypes.ANY.DNAME
import dns.rdtypes.ANY.NS
import dns.rdtypes.ANY.PTR
import dns.rdtypes.ANY.TXT
import dns.rdtypes.IN.A
import dns.rdtypes.IN.AAAA
import dns.rrset
import dns.tokenizer
import dns.ttl
import dns.zonefile

from authoritative.zone import Node, Zone
from lab.errors import ZoneError

CNAME = dns.rdatatype.CNAME
SOA = dns.rdatatype.SOA
NodeKind = dns.node.NodeKind
NEUTRAL = NodeKind.NEUTRAL
DNSSEC_TYPES = frozenset({dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3})


@dataclass
class LoadedZone:
    zone: Zone
    warnings: list[str] = field(default_factory=list)


class _Collector:
    """What :class:`dns.zonefile.Reader` needs of a transaction, in linear time.

    dnspython's own reading transaction finds a node (asked for by its CNAME-beside-other-data
    check on every record) by scanning every stored record set, which made loading quadratic
    in the zone's size (72 s at 10k records). This collector keeps one dict per owner name and
    applies the same rules on each ``add``: dnspython's node kinds for the CNAME check
    (``dns.node.NodeKind``), duplicates dropped, a singleton type (SOA, CNAME, ...) replaced
    by its last record, an SOA only at the origin; and, as Knot does, the last TTL given to
    an RRset wins.
    """

    def __init__(self, origin: dns.name.Name | None) -> None:
        self.origin = origin
        self.where = ""  # "file:line" where the record being read starts
        self.outside: list[tuple[str, dns.name.Name | None]] = []  # out-of-zone owners skipped
        self.failed_name: dns.name.Name | None = None
        # owner -> (rdtype, covers) -> [TTL, first "file:line", first rdata, more, node kind];
        # ``more`` (digestable wire -> rdata: duplicates, canonical order) once there are two
        self.names: dict[dns.name.Name, dict[tuple[int, int], list[Any]]] = {}
        self.manager = self  # the reader asks txn.manager.origin_information()

    def origin_information(self) -> tuple[dns.name.Name | None, bool, dns.name.Name | None]:
        return (self.origin, False, self.origin)

    def check_put_rdataset(self, check: Any) -> None:
        """The reader installs dnspython's CNAME check; ``add`` applies the same rule."""

    def _set_origin(self, origin: dns.name.Name) -> None:
        if self.origin is None:
            self.origin = origin

    def add(self, name: dns.name.Name, ttl: int, rdata: dns.rdata.Rdata) -> None:
        rdtype = int(rdata.rdtype)
        covers = int(rdata.covers())
        if rdtype == SOA and name != self.origin:
            self.failed_name = name
            raise _Refused(f"SOA record below the origin at {name}")  # type: ignore[no-untyped-call]
        node = self.names.setdefault(name, {})  # hashing a Name is not cheap: once
        entry = node.get((rdtype, covers))
        if entry is None:
            kind = NodeKind.classify(rdata.rdtype, rdata.covers())
            if kind != NEUTRAL and any(e[4] not in (kind, NEUTRAL) for e in node.values()):
                self.failed_name = name
                raise dns.zonefile.CNAMEAndOtherData("not compatible")  # type: ignore[no-untyped-call]
            node[(rdtype, covers)] = [ttl, self.where, rdata, None, kind]
            return
        entry[0] = ttl  # Knot keeps the last TTL given to an RRset
        if dns.rdatatype.is_singleton(rdata.rdtype):
            entry[2], entry[3] = rdata, None
            return
        more = entry[3]
        if more is None:
            first = entry[2]
            more = entry[3] = {first.to_digestable(): first}
        more.setdefault(rdata.to_digestable(), rdata)

    def line_of(self, name: dns.name.Name, rdtype: int) -> str | None:
        """The ``file:line`` of the first record of an RRset."""
        for (t, _), entry in self.names.get(name, {}).items():
            if t == rdtype:
                return str(entry[1])
        return None


class LazyNodes(Mapping[dns.name.Name, Node]):
    """A zone's nodes — owner -> type -> RRset, types ascending, records in canonical order
    (RFC 4034 §6.3, as Knot keeps them) — each built from what the reader collected the
    first time it is looked up. Answers are cached as wire bytes, so most nodes of a big
    zone are never built; building all of them up front was a quarter of the loading time."""

    __slots__ = ("_built", "_raw")

    def __init__(self, raw: dict[dns.name.Name, dict[tuple[int, int], list[Any]]]) -> None:
        self._raw = raw
        self._built: dict[dns.name.Name, Node] = {}

    def __getitem__(self, name: dns.name.Name) -> Node:
        node = self._built.get(name)
        if node is None:
            node = self._built[name] = _build_node(name, self._raw[name])
        return node

    def get(self, name: dns.name.Name, default: Any = None) -> Any:
        node = self._built.get(name)
        if node is not None:
            return node
        return self[name] if name in self._raw else default

    def __contains__(self, name: object) -> bool:
        return name in self._raw

    def __iter__(self) -> Iterator[dns.name.Name]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def counts(self) -> Iterator[tuple[dns.name.Name, dict[int, int]]]:
        """(owner, type -> number of records) without building any RRset (and without a new
        dict keyed by names: dnspython's Name hash is costly and collides often)."""
        for name, sets in self._raw.items():
            yield name, {t: 1 if e[3] is None else len(e[3]) for (t, _), e in sets.items()}

    def count_of(self, name: dns.name.Name) -> dict[int, int]:
        sets = self._raw.get(name, {})
        return {t: 1 if e[3] is None else len(e[3]) for (t, _), e in sets.items()}

    def names(self, origin: dns.name.Name) -> frozenset[dns.name.Name]:
        """Every owner, the origin, and every empty non-terminal between them."""
        raw = self._raw
        origin_depth = len(origin.labels)
        extra: set[dns.name.Name] = {origin}
        for name in raw:
            labels = name.labels
            for i in range(1, len(labels) - origin_depth):
                parent = dns.name.Name(labels[i:])
                if parent in raw or parent in extra:
                    break
                extra.add(parent)
        return frozenset(raw) | extra


def _build_node(name: dns.name.Name, sets: dict[tuple[int, int], list[Any]]) -> Node:
    node: dict[int, dns.rrset.RRset] = {}
    for (rdtype, _), (ttl, _, first, more, _) in sorted(sets.items()):
        rrset = dns.rrset.RRset(name, dns.rdataclass.IN, first.rdtype, first.covers())
        rrset.ttl = ttl
        if more is None:
            rrset.items = {first: None}
        else:
            rrset.items = dict.fromkeys(more[k] for k in sorted(more))
        node[rdtype] = rrset
    return node


class _Refused(dns.exception.DNSException):
    """A record the zone cannot hold, reported at its line."""


_SIMPLE_LINE = re.compile(r'[^()\\;\r"]*(?:"[^"\\;\r]*"[^()\\;\r"]*)*\n?\Z')
_OTHER_CLASSES = frozenset(
    dns.rdataclass.to_text(c) for c in dns.rdataclass.RdataClass if c != dns.rdataclass.IN
)


_NAME_FIELD = frozenset({CNAME, dns.rdatatype.NS, dns.rdatatype.PTR, dns.rdatatype.DNAME})
_ONE_FIELD: dict[int, Any] = {
    dns.rdatatype.A: dns.rdtypes.IN.A.A,
    dns.rdatatype.AAAA: dns.rdtypes.IN.AAAA.AAAA,
    CNAME: dns.rdtypes.ANY.CNAME.CNAME,
    dns.rdatatype.NS: dns.rdtypes.ANY.NS.NS,
    dns.rdatatype.PTR: dns.rdtypes.ANY.PTR.PTR,
    dns.rdatatype.DNAME: dns.rdtypes.ANY.DNAME.DNAME,
}


_TXT_STRING = re.compile(r'"([^"]*)"|([^\s"]+)')
_LABEL = re.compile(r"[A-Za-z0-9_-]{1,63}\Z")


def _name(text: str, origin: dns.name.Name | None, tok: dns.tokenizer.Tokenizer) -> dns.name.Name:
    """``dns.name.from_text`` (as the tokenizer calls it), one plain relative label cheaper."""
    if origin is not None and _LABEL.match(text):
        return dns.name.Name((text.encode(), *origin.labels))
    return dns.name.from_text(text, origin, tok.idna_codec)


class _Reader(dns.zonefile.Reader):
    """dnspython's reader, noting where each record starts and which owners it skipped."""

    manager: _Collector
    _inside: dns.name.Name | None = None  # an origin known to be inside the zone
    _checked: dns.name.Name | None = None  # the last owner known to be inside the zone

    def _rr_line(self) -> None:
        filename, line = self.tok.where()
        self.manager.where = f"{filename}:{line}"
        try:
            if not self._simple_rr_line():
                super()._rr_line()
        except dns.exception.DNSException:
            self.manager.failed_name = self.last_name
            raise

    def _simple_rr_line(self) -> bool:
        """Read a one-line record without dnspython's character-at-a-time tokenizer.

        Only a line with nothing unusual takes this path: no parentheses, escapes, comments
        or CR, an owner inside the zone, ``[TTL] [IN] [TTL] TYPE RDATA``. The record data is
        still parsed by ``dns.rdata.from_text`` and the TTL rules are the reader's own. On
        anything else, or any error, the input is rewound and dnspython reads the line
        itself, so edge cases and error messages are exactly dnspython's.
        """
        tok = self.tok
        first = tok.ungotten_token
        f = tok.file
        if (
            first is None
            or tok.multiline
            or tok.after_cr
            or not isinstance(f, io.StringIO)
            or self.force_name is not None
            or self.force_ttl is not None
            or self.force_rdclass is not None
            or self.force_rdtype is not None
            or self.current_origin is None
        ):
            return False
        if not first.is_whitespace() and not (first.is_identifier() and not first.has_escape):
            return False
        pos = f.tell()
        line = (tok.ungotten_char or "") + f.readline()
        if not _SIMPLE_LINE.match(line):
            f.seek(pos)
            return False
        try:
            if first.is_whitespace():
                name, relative = self.last_name, False
            else:
                name = _name(first.value, self.current_origin, tok)
                relative = not first.value.endswith(".")
            record = self._simple_record(name, line, relative)
        except Exception:  # dnspython reads it again and says what is wrong
            record = None
        if record is None:
            f.seek(pos)
            return False
        tok.ungotten_token = None
        tok.ungotten_char = None
        self._commit(record, line)
        self._more_simple_lines()
        return True

    def _more_simple_lines(self) -> None:
        """Go on past the line just read while the next lines are simple records too (the
        owner field split off here instead of by the tokenizer); stop, rewound, at the first
        line that is not: a directive, a comment, a blank line, anything unusual."""
        tok = self.tok
        f = tok.file
        where = f"{tok.filename}:"
        while not tok.eof:
            pos = f.tell()
            line = f.readline()
            if not line:
                return
            head = line[0]
            if head in "$;\n" or not _SIMPLE_LINE.match(line):
                f.seek(pos)
                return
            try:
                if head in " \t":
                    name, relative, rest = self.last_name, False, line
                else:
                    owner, rest = line.split(None, 1)
                    if '"' in owner:
                        raise ValueError(owner)
                    name = _name(owner, self.current_origin, tok)
                    relative = not owner.endswith(".")
                self.manager.where = where + str(tok.line_number)
                record = self._simple_record(name, rest, relative)
            except Exception:  # dnspython reads it again and says what is wrong
                record = None
            if record is None:
                f.seek(pos)
                return
            self._commit(record, line)

    def _commit(
        self, record: tuple[dns.name.Name, int | None, dns.rdata.Rdata, int | None], line: str
    ) -> None:
        """The reader's bookkeeping for one record read here, then the record itself."""
        tok = self.tok
        name, ttl, rd, last_ttl = record
        if line.endswith("\n"):
            tok.line_number += 1
        else:
            tok.eof = True
        if name is not self.last_name:
            self.last_name = name
        if last_ttl is not None:
            self.last_ttl = last_ttl
            self.last_ttl_known = True
        if not self.default_ttl_known and rd.rdtype == dns.rdatatype.SOA:  # as the reader does
            self.default_ttl = rd.minimum  # type: ignore[attr-defined]
            self.default_ttl_known = True
            self.default_ttl_from_soa = True
            if ttl is None:
                ttl = self._implicit_ttl()
        if ttl is None:
            raise dns.exception.SyntaxError("Missing default TTL value")  # type: ignore[no-untyped-call]
        self.txn.add(name, ttl, rd)

    def _simple_record(
        self, name: dns.name.Name | None, line: str, relative: bool
    ) -> tuple[dns.name.Name, int | None, dns.rdata.Rdata, int | None] | None:
        assert self.zone_origin is not None
        if name is None:
            return None
        if name is not self._checked and not (relative and self._inside is self.current_origin):
            if not name.is_subdomain(self.zone_origin):
                return None
            if relative:  # every relative owner below this origin is inside the zone too
                self._inside = self.current_origin
            self._checked = name
        fields = line.split(None, 1)
        if len(fields) < 2:
            return None
        ttl = last_ttl = None
        word, rest = fields
        if word[0].isdigit():
            ttl = last_ttl = dns.ttl.from_text(word)
            word, rest = rest.split(None, 1)
        if word.upper() == "IN":
            word, rest = rest.split(None, 1)
        elif word.upper() in _OTHER_CLASSES or word.upper().startswith("CLASS"):
            return None
        if ttl is None:
            if word[0].isdigit():
                ttl = last_ttl = dns.ttl.from_text(word)
                word, rest = rest.split(None, 1)
            else:
                ttl = self._implicit_ttl()
        rdtype = dns.rdatatype.from_text(word)
        value = rest.split()
        cls = _ONE_FIELD.get(rdtype)
        if cls is not None and len(value) == 1 and value[0][0] != '"':
            # what the type's own from_text does with its one field, without a tokenizer
            field: Any = value[0]
            if rdtype in _NAME_FIELD:
                field = _name(field, self.current_origin, self.tok)
            rd = cls(dns.rdataclass.IN, rdtype, field)
        elif rdtype == dns.rdatatype.TXT:  # TXTBase.from_text, for strings without escapes
            strings = [m[2] if m[1] is None else m[1] for m in _TXT_STRING.finditer(rest)]
            rd = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, rdtype, [t.encode() for t in strings])
        else:
            rd = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype, rest, self.current_origin, False, self.zone_origin
            )
        return name, ttl, rd, last_ttl

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
    manager = _Collector(origin_name)
    try:
        tok = dns.tokenizer.Tokenizer(text, filename)
        reader = _Reader(tok, dns.rdataclass.IN, manager, allow_include=True)  # type: ignore[arg-type]
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
    return build_zone(manager.origin, LazyNodes(manager.names), manager.line_of, filename, outside)


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


def _syntax_message(filename: str, manager: _Collector, exc: Exception) -> str:
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
    nodes: LazyNodes,
    lines: Callable[[dns.name.Name, int], str | None],
    filename: str,
    problems: Iterable[str] = (),
) -> LoadedZone:
    """Check the records of a zone (the reader keeps only owners inside it, class IN) and
    freeze them."""
    errors: list[str] = list(problems)
    warnings: list[str] = []

    def where(name: dns.name.Name, rdtype: int) -> str:
        return lines(name, rdtype) or filename

    errors += _check_semantics(origin, nodes, where)
    cuts: set[dns.name.Name] = set()
    dnames: set[dns.name.Name] = set()
    records = 0
    for name, types in nodes.counts():
        records += sum(types.values())
        if dns.rdatatype.NS in types and name != origin:
            cuts.add(name)
        if dns.rdatatype.DNAME in types:
            dnames.add(name)
    warnings += _check_glue(nodes, frozenset(cuts), where)
    if errors:
        raise ZoneError("\n".join(errors))
    soa = nodes[origin][dns.rdatatype.SOA]
    negative = dns.rrset.from_rdata_list(origin, min(soa.ttl, soa[0].minimum), list(soa))
    names = nodes.names(origin)
    zone = Zone(
        origin, nodes, names, frozenset(cuts), frozenset(dnames), soa, negative, filename, records
    )
    return LoadedZone(zone, warnings)


def _check_semantics(origin: dns.name.Name, nodes: LazyNodes, where: Any) -> list[str]:
    errors: list[str] = []
    apex = nodes.count_of(origin)
    if dns.rdatatype.SOA not in apex:
        errors.append(
            f"{where(origin, dns.rdatatype.SOA)}: no SOA record at the origin {origin}; add one"
        )
    elif apex[dns.rdatatype.SOA] != 1:
        errors.append(f"{where(origin, dns.rdatatype.SOA)}: more than one SOA record at {origin}")
    if dns.rdatatype.NS not in apex:
        errors.append(
            f"{where(origin, dns.rdatatype.NS)}: no NS records at the origin {origin}; add at least one"
        )
    for name, types in nodes.counts():
        if dns.rdatatype.SOA in types and name != origin:
            errors.append(
                f"{where(name, dns.rdatatype.SOA)}: SOA record below the origin at {name}"
            )
        if CNAME in types:
            if types[CNAME] > 1:
                errors.append(f"{where(name, CNAME)}: more than one CNAME at {name}")
            others = [t for t in sorted(types) if t != CNAME and t not in DNSSEC_TYPES]
            if others:
                kinds = ", ".join(dns.rdatatype.to_text(dns.rdatatype.RdataType(t)) for t in others)
                errors.append(
                    f"{where(name, CNAME)}: CNAME at {name} beside other data ({kinds}); "
                    "a name with a CNAME can hold nothing else (RFC 1034 §3.6.2)"
                )
            if name == origin:
                errors.append(f"{where(name, CNAME)}: CNAME at the zone origin {name}")
    return errors


def _check_glue(nodes: LazyNodes, cuts: frozenset[dns.name.Name], where: Any) -> list[str]:
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
