"""The query engine: bytes in, bytes out. Parse, look up the wire caches, on a miss run the
pipeline and render once, then patch the cached bytes for this query.

Two caches. The *exact* cache (names that are not dynamic) maps the query bytes after the ID
to the reply bytes after the ID: a hit costs one lookup and one concatenation. The *answer*
cache is keyed by (lowercased qname wire, qtype, qclass, EDNS shape, variant); the EDNS shape
folds in everything that changes the bytes: size limit (transport, advertised payload), OPT
present, DO, NSID and EXPIRE asked, and the room an echoed ECS option needs. Per query we
patch the message ID, echo RD, copy the question bytes from the query (so its letter case is
echoed, and owner names compressed to the question follow it), and insert the ECS option
with the answer's scope. Checks run in Knot DNS 3.2's order (see ``_answer``).
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Hashable, Sequence
from time import perf_counter
from typing import Any

import dns.name

from authoritative.answer import BADVERS, FORMERR, NOTAUTH, NOTIMP, REFUSED, SERVFAIL
from authoritative.metrics import Metrics
from authoritative.pipeline import PIPELINE, Handler, run
from authoritative.render import (
    EXPIRE_OPTION,
    NSID_OPTION,
    OUR_PAYLOAD,
    edns_option,
    opt_record,
    render,
)
from authoritative.request import TCP, UDP, Request
from authoritative.state import ServingState
from authoritative.transfer import BadIxfr, transfer
from authoritative.tsig import append_record, badkey_record
from authoritative.wire import Drop, FormErr, Query, parse
from authoritative.wirecache import DEFAULT_BYTES, DEFAULT_ENTRIES, Budget, LruCache

AnswerKey = tuple[bytes, int, int, tuple[int, int, int], Hashable]
AnswerEntry = tuple[bytes, int, int, int, int]  # wire, rcode, ECS scope, OPT RDLENGTH at, ECS at
ExactEntry = tuple[bytes, tuple[str, int, int]]  # reply after the ID, metrics key
# ... the geo answer counter, valid until (inf: fixed TTL), provider and its generation
GeoEntry = tuple[bytes, tuple[str, int, int], Any, float, Any, int]
INF = math.inf

AXFR = 252
IXFR = 251
NOTIFY = 4
UPDATE = 5
SOA = 6
TCP_LIMIT = 65535
SAMPLE = 8  # time one query in 8 (the 1st, 9th, ...): two clock reads cost more than a cache hit
CH = 3
SERVED_CLASSES = (1, CH, 255)
META_CLASSES = (
    254,
    255,
)  # NONE, ANY (RFC 2136 §2.3 / dnspython's is_metaclass)  # IN, CH, ANY; any other class is REFUSED first


class Engine:
    def __init__(
        self,
        state: ServingState,
        metrics: Metrics | None = None,
        pipeline: tuple[Handler, ...] = PIPELINE,
        cache_size: int = DEFAULT_ENTRIES,
        nsid: bytes = b"",
        cache_bytes: int = DEFAULT_BYTES,
        transfer_allow: Sequence[str] = (),
    ) -> None:
        self.nsid = nsid  # our NSID (RFC 5001), sent when a query asks for it
        self.state = state
        self.metrics = metrics or Metrics()
        self.pipeline = pipeline
        self.cache_size = cache_size
        # all three wire caches are LRU, bounded by entries each and by one byte budget
        self.budget = Budget(cache_bytes)
        self.cache: LruCache[AnswerKey, AnswerEntry] = LruCache(cache_size, self.budget)
        # first level, for names that are not dynamic: the query bytes after the ID fully decide
        # the reply after the ID (case, flags, EDNS, ECS included) -> (reply[2:], metrics key)
        self.exact: dict[str, LruCache[bytes, ExactEntry]] = {
            UDP: LruCache(cache_size, self.budget),
            TCP: LruCache(cache_size, self.budget),
        }
        # GeoDNS names on the fast path (answer fixed for the state's life): the query bytes
        # after the ID (ECS decided), or (bytes, source address) -> (reply after the ID,
        # metrics key, answer counter)
        self.exact_geo: dict[str, LruCache[bytes | tuple[bytes, str], GeoEntry]] = {
            UDP: LruCache(cache_size, self.budget),
            TCP: LruCache(cache_size, self.budget),
        }
        # dynamic names: (query bytes after the ID, variant) -> (reply after the ID, rcode)
        self.exact_dynamic: dict[str, LruCache[tuple[bytes, Hashable], tuple[bytes, int]]] = {
            UDP: LruCache(cache_size, self.budget),
            TCP: LruCache(cache_size, self.budget),
        }
        self.metrics.caches = {
            "answer": self.cache,
            "exact_udp": self.exact[UDP],
            "exact_tcp": self.exact[TCP],
            "dynamic_udp": self.exact_dynamic[UDP],
            "dynamic_tcp": self.exact_dynamic[TCP],
            "geo_udp": self.exact_geo[UDP],
            "geo_tcp": self.exact_geo[TCP],
        }
        self.sequence = 0  # queries seen; the 1st of every SAMPLE is timed (duration histogram)
        self.transfer_allowed = transfer_acl(transfer_allow)  # AXFR/IXFR ACL: none by default
        self.transfer_rest: list[bytes] = []  # messages of a zone transfer after the first

    def swap(self, state: ServingState) -> None:
        """Serve ``state`` from the next query on; the wire caches start empty (the static
        names' exact cache survives a change of the dynamic answers alone: same zones, same
        dynamic names)."""
        old = self.state
        self.state = state
        self.cache.clear()
        for dyn in self.exact_dynamic.values():
            dyn.clear()
        for geo in self.exact_geo.values():
            geo.clear()
        if not (
            state.zones is old.zones
            and state.chaos is old.chaos
            and state.dynamic_wire.keys() == old.dynamic_wire.keys()
        ):
            for exact in self.exact.values():
                exact.clear()

    def handle(self, data: bytes, transport: str, client: tuple[str, int]) -> bytes | None:
        """The reply to one query (None: no reply)."""
        return self.answer_all([(data, client)], transport)[0]

    def answer_all(
        self, queries: Sequence[tuple[bytes, tuple[str, int]]], transport: str
    ) -> list[bytes | None]:
        """The replies to several (query, client) pairs of one transport, in order (None: no
        reply): what a server read in one wake-up. A hit of the exact cache is answered in this
        loop (one lookup and one concatenation, no call); the rest go to ``_handle``. The
        first query of every ``SAMPLE`` is timed, so the histogram has a sample from the first
        query on (not after eight)."""
        # the LRU caches' dicts are read directly here: a method call per lookup is a tenth
        # of a cached answer's cost; a hit is still marked recently used
        exact = self.exact[transport].data
        get, touch = exact.get, exact.move_to_end
        m = self.metrics
        counts = m.queries
        seq = self.sequence
        hits = 0
        out: list[bytes | None] = []
        append = out.append
        for data, client in queries:
            timed = not seq % SAMPLE
            if timed:
                start = perf_counter()
            seq += 1
            key = data[2:]
            hit = get(key)
            if hit is not None:
                touch(key)
                hits += 1
                counts[hit[1]] += 1
                append(data[:2] + hit[0])
            else:
                append(self._handle(data, transport, client))
            if timed:
                m.observe(perf_counter() - start)
        self.sequence = seq
        m.cache_hits += hits
        return out

    def _handle(self, data: bytes, transport: str, client: tuple[str, int]) -> bytes | None:
        """A query the exact cache did not answer: GeoDNS hits, then parse and answer."""
        m = self.metrics
        key = data[2:]
        geo = self.exact_geo[transport].data
        if geo:  # GeoDNS: decided by the query's ECS, or by its bytes and source address
            found = geo.get(key)
            by: bytes | tuple[bytes, str]
            if found is None:
                by = (key, client[0])
                found = geo.get(by)
            else:
                by = key
            if found is not None and (
                found[3] == INF  # fixed TTL: as long as this state serves
                or (found[4].generation == found[5] and found[4].clock.now() < found[3])
            ):  # a dynamic TTL: while it is still the TTL (and the times did not move)
                geo.move_to_end(by)
                m.cache_hits += 1
                m.queries[found[1]] += 1
                if found[2] is not None:
                    found[2].inc()
                return data[:2] + found[0]
        try:
            q = parse(data)
        except Drop:
            m.dropped += 1
            return None
        except FormErr as err:
            m.queries[(transport, 0, FORMERR)] += 1
            return error_reply(data, err.qend, FORMERR)
        except Exception:  # a bug in the parser: SERVFAIL, counted, never a dead server
            m.handler_errors += 1
            m.queries[(transport, 0, SERVFAIL)] += 1
            return error_reply(data, 12, SERVFAIL)
        try:
            reply, rcode = self._answer(data, q, transport, client)
        except Exception:
            m.handler_errors += 1
            reply, rcode = error_reply(data, q.qend, SERVFAIL, q, nsid=self.nsid), SERVFAIL
        m.queries[(transport, q.qtype, rcode)] += 1
        return reply

    def _answer(
        self, data: bytes, q: Query, transport: str, client: tuple[str, int]
    ) -> tuple[bytes, int]:
        # Knot's order of checks: invalid ECS, EDNS version, class, opcode, qtype
        if q.ecs_error is not None:  # invalid ECS (RFC 7871 §6): FORMERR, our OPT without options
            return error_reply(data, q.qend, FORMERR, q, False, self.nsid), FORMERR
        opt = q.opt
        if opt is not None and opt[2] != 0:
            return error_reply(data, q.qend, BADVERS, q, nsid=self.nsid), BADVERS
        if q.qclass not in SERVED_CLASSES and q.qend > 12:
            return error_reply(data, q.qend, REFUSED, q, nsid=self.nsid), REFUSED
        if q.tsig is not None and q.qclass != CH and q.qend > 12:
            refused = self._signed(data, q, transport)
            if refused is not None:
                return refused, NOTAUTH
        if q.opcode or q.qtype in (AXFR, IXFR) or q.qtype == 0:
            return self._special(data, q, transport, client)
        ecs = q.ecs
        name_key = data[12 : q.name_end].lower()
        state = self.state
        variant: Hashable = None
        planned: tuple[Hashable, Any, float] | None = None
        until = math.inf
        request: Request | None = None
        dynamic = False
        if state.dynamic_wire:
            provider = state.dynamic_wire.get(name_key)
            if provider is not None:
                dynamic = True
                fast = getattr(provider, "fast_plan", None)
                planned = None if fast is None else fast(ecs, client)
                if planned is None:
                    request = make_request(data, q, transport, client)
                    variant = provider.variant(request)
                else:
                    variant, counter, until = planned
                    if counter is not None:
                        counter.inc()
                hit = self.exact_dynamic[transport].get((data[2:], variant))
                if hit is not None:  # the same query bytes and the same answer: no patching
                    self.metrics.cache_hits += 1
                    return data[:2] + hit[0], hit[1]
        if opt is None:
            limit = TCP_LIMIT if transport == TCP else 512
            shape = (limit, 0, 0)
        else:
            limit = TCP_LIMIT if transport == TCP else max(512, min(opt[0], OUR_PAYLOAD))
            ecs_len = 0 if ecs is None else 8 + len(ecs.address)
            flags = (8 if q.expire else 0) | (4 if q.nsid else 0) | (2 if opt[3] & 0x8000 else 0)
            shape = (limit, ecs_len, flags | 1)
        key = (name_key, q.qtype, q.qclass, shape, variant)
        entry = self.cache.get(key)
        if entry is None:
            self.metrics.cache_misses += 1
            if request is None:
                request = make_request(data, q, transport, client)
            answer = run(state, request, variant, self.pipeline)
            do = None if opt is None else bool(opt[3] & 0x8000)
            reserve = 0 if ecs is None else 8 + len(ecs.address)
            nsid = self.nsid if q.nsid else None
            wire, rdlen_at, ecs_at = render(
                answer,
                request.qname,
                q.qtype,
                q.qclass,
                limit,
                do,
                reserve,
                nsid,
                q.expire,
                transport == TCP,
            )
            rcode = wire[3] & 0xF  # SERVFAIL when it did not fit over TCP
            entry = (wire, rcode if rcode else answer.rcode, answer.ecs_scope, rdlen_at, ecs_at)
            self.cache.put(key, entry, len(wire) + len(name_key))
        else:
            self.metrics.cache_hits += 1
        wire = entry[0]
        qend = q.qend
        reply = (
            data[:2]
            + bytes((wire[2] | (data[2] & 1), wire[3]))
            + wire[4:12]
            + data[12:qend]
            + wire[qend:]
        )
        if ecs is not None:
            reply = insert_option(reply, ecs.option_wire(entry[2]), entry[3], entry[4])
        if not dynamic:  # remember the exact bytes: next time no parse at all
            self.exact[transport].put(
                data[2:], (reply[2:], (transport, q.qtype, entry[1])), len(data) + len(reply)
            )
        else:  # the same query bytes with the same variant: the same reply after the ID
            self.exact_dynamic[transport].put(
                (data[2:], variant), (reply[2:], entry[1]), len(data) + len(reply)
            )
            if planned is not None:
                # the variant is a function of the query bytes (ECS) or of bytes and source
                # address, for as long as this state serves (a dynamic TTL: until it counts
                # down or the provider's times move): keep the reply by those
                by: bytes | tuple[bytes, str] = (
                    data[2:] if ecs is not None and ecs.source > 0 else (data[2:], client[0])
                )
                self.exact_geo[transport].put(
                    by,
                    (
                        reply[2:],
                        (transport, q.qtype, entry[1]),
                        planned[1],
                        until,
                        provider,
                        getattr(provider, "generation", 0),
                    ),
                    len(data) + len(reply),
                )
        return reply, entry[1]

    def _signed(self, data: bytes, q: Query, transport: str) -> bytes | None:
        """A signed query for one of our zones: NOTAUTH + TSIG BADKEY (we hold no keys)."""
        assert q.tsig is not None
        normal = q.opcode == 0 and q.qtype not in (0, AXFR, IXFR)
        if not normal and (
            q.opcode not in (0, NOTIFY, UPDATE)
            or q.qtype == 0
            or (q.qtype == AXFR and transport != TCP)
            or (q.opcode == UPDATE and q.qtype != SOA)
        ):
            return None  # answered NOTIMP/FORMERR before any key is looked at
        qname = dns.name.from_wire(data, 12)[0]
        zone = self.state.zone_for(qname) if normal else self.state.zones.get(qname)
        if zone is None:
            return None
        record = badkey_record(data, *q.tsig)
        if record is None:
            return None
        expire = zone.soa[0].expire if q.expire else None
        reply = error_reply(data, q.qend, NOTAUTH, q, nsid=self.nsid, expire=expire)
        return append_record(reply, record)

    def _transfer(
        self, data: bytes, q: Query, transport: str, client: tuple[str, int]
    ) -> tuple[bytes, int] | None:
        """An AXFR/IXFR the ACL allows: the first message (the rest in ``transfer_rest``)."""
        if q.qclass != 1 or q.tsig is not None or not self.transfer_allowed(client[0]):
            return None
        qname = dns.name.from_wire(data, 12)[0]
        zone = self.state.zones.get(qname)
        if zone is None:
            return None
        try:
            out = transfer(data, zone, q.qtype, transport == TCP, qname)
        except BadIxfr:
            return error_reply(data, q.qend, FORMERR, q, nsid=self.nsid), FORMERR
        self.transfer_rest = out[1:]
        return out[0], 0

    def handle_stream(self, data: bytes, client: tuple[str, int]) -> list[bytes]:
        """The replies to one message over TCP: one, or a zone transfer's several."""
        reply = self.handle(data, TCP, client)
        if reply is None:
            return []
        rest, self.transfer_rest = self.transfer_rest, []
        return [reply, *rest]

    def _special(
        self, data: bytes, q: Query, transport: str, client: tuple[str, int]
    ) -> tuple[bytes, int]:
        """Opcodes other than QUERY and zone-transfer types, answered as Knot answers them."""
        if q.qend == 12:  # no question
            rcode = FORMERR if q.opcode in (0, NOTIFY, UPDATE) else NOTIMP
        elif q.qclass == CH:  # CHAOS answers plain queries only
            rcode = NOTIMP
        elif q.opcode == UPDATE and q.qtype != SOA:  # the zone section names a zone by its SOA
            rcode = FORMERR
        elif q.opcode:
            rcode = opcode_rcode(q.opcode)
        elif q.qtype == IXFR or (q.qtype == AXFR and transport == TCP):
            allowed = self._transfer(data, q, transport, client)
            if allowed is not None:
                return allowed
            rcode = NOTAUTH  # as Knot answers a transfer its ACL denies
        else:
            rcode = NOTIMP
        expire = None
        if q.expire and q.qend > 12 and q.qclass != CH:  # Knot: a zone found by exact name
            zone = self.state.zones.get(dns.name.from_wire(data, 12)[0])
            expire = None if zone is None else zone.soa[0].expire
        return error_reply(data, q.qend, rcode, q, nsid=self.nsid, expire=expire), rcode


def transfer_acl(allow: Sequence[str]) -> Callable[[str], bool]:
    """Whether an address may transfer zones (``transfer_allow``: addresses or networks)."""
    networks = tuple(ipaddress.ip_network(n, strict=False) for n in allow)

    def allowed(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in networks)

    return allowed


def opcode_rcode(opcode: int) -> int:
    return NOTAUTH if opcode in (NOTIFY, UPDATE) else NOTIMP


def make_request(data: bytes, q: Query, transport: str, client: tuple[str, int]) -> Request:
    return Request(None, q.qtype, q.qclass, transport, client, None, q.ecs, wire=data, opt=q.opt)


def error_reply(
    data: bytes,
    qend: int,
    rcode: int,
    q: Query | None = None,
    with_ecs: bool = True,
    nsid: bytes = b"",
    expire: int | None = None,
) -> bytes:
    """Header + the query's question (if any) + our OPT when the query had one (with the NSID
    and ECS echo Knot puts there). Extended rcodes (BADVERS) go into the OPT."""
    if qend > 12 and (data[2] >> 3) & 0xF == UPDATE and not update_zone_ok(data, qend):
        qend = 12  # RFC 2136 §2.3: a zone section that is no zone is not echoed (see below)
    qd = 1 if qend > 12 else 0
    flags = 0x80 | (data[2] & 0x79)  # QR, the query's opcode and RD
    tail = b""
    if q is not None and q.opt is not None:
        options = b""
        if q.nsid:
            options += edns_option(NSID_OPTION, nsid)
        if with_ecs and q.ecs is not None:
            options += q.ecs.option_wire(0)
        if expire is not None:
            options += edns_option(EXPIRE_OPTION, expire.to_bytes(4, "big"))
        tail = opt_record(rcode >> 4, bool(q.opt[3] & 0x8000), options)
    header = bytes((data[0], data[1], flags, rcode & 0xF, 0, qd, 0, 0, 0, 0, 0, 1 if tail else 0))
    return header + data[12:qend] + tail


def update_zone_ok(data: bytes, qend: int) -> bool:
    """Whether an UPDATE's zone section (its question) names a zone: type SOA, a real class.

    Knot echoes any question; a strict client (dnspython's UpdateMessage) rejects a reply whose
    zone section has another type or class ANY/NONE, so those replies go without it.
    """
    qtype = data[qend - 4] << 8 | data[qend - 3]
    qclass = data[qend - 2] << 8 | data[qend - 1]
    return qtype == SOA and qclass not in META_CLASSES


def insert_option(reply: bytes, option: bytes, rdlen_at: int, insert_at: int) -> bytes:
    """Insert an EDNS option at ``insert_at`` inside the OPT record whose RDLENGTH is at
    ``rdlen_at`` (the OPT record ends the message)."""
    rdlen = (reply[rdlen_at] << 8 | reply[rdlen_at + 1]) + len(option)
    return (
        reply[:rdlen_at]
        + rdlen.to_bytes(2, "big")
        + reply[rdlen_at + 2 : insert_at]
        + option
        + reply[insert_at:]
    )
