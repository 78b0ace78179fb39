"""Query metrics kept as plain integers on the hot path, exported by a collector at scrape time.

Incrementing a prometheus-client labelled counter costs about a microsecond; a dict increment
costs a tenth of that, so the engine counts into :class:`Metrics` and the registry reads it.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import dns.rcode
import dns.rdatatype
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

# qtype buckets: bounded label cardinality; every other type is "other"
QTYPE_BUCKETS: dict[int, str] = {
    int(t): dns.rdatatype.to_text(t)
    for t in (
        dns.rdatatype.A,
        dns.rdatatype.AAAA,
        dns.rdatatype.CNAME,
        dns.rdatatype.MX,
        dns.rdatatype.NS,
        dns.rdatatype.SOA,
        dns.rdatatype.TXT,
        dns.rdatatype.SRV,
        dns.rdatatype.PTR,
        dns.rdatatype.CAA,
        dns.rdatatype.HTTPS,
        dns.rdatatype.DS,
        dns.rdatatype.ANY,
    )
}
DURATION_BUCKETS = (0.00001, 0.00002, 0.00005, 0.0001, 0.0002, 0.0005, 0.001, 0.005, 0.01)


class Sized(Protocol):
    used: int
    evictions: int

    def __len__(self) -> int: ...


class Limited(Protocol):
    slipped: int
    dropped: int


def rcode_name(rcode: int) -> str:
    try:
        return dns.rcode.to_text(dns.rcode.Rcode(rcode))
    except ValueError:
        return "other"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.queries: defaultdict[tuple[str, int, int], int] = defaultdict(int)
        self.cache_hits = 0
        self.cache_misses = 0
        self.handler_errors = 0
        self.dropped = 0
        self.udp_send_dropped = 0  # UDP replies dropped: the socket's send buffer was full
        self.tcp_closed: defaultdict[str, int] = defaultdict(int)  # reason -> connections
        self.tcp_open: Callable[[], int] = lambda: 0
        self.caches: dict[str, Sized] = {}
        self.rrl: Limited | None = (
            None  # the UDP rate limiter, when configured  # name -> a wire cache (entries, used bytes, evictions)
        )
        self.durations = [0] * (len(DURATION_BUCKETS) + 1)
        self.duration_sum = 0.0
        self.peers: Any = None  # --workers: the other workers' counters (workers.WorkerSums)
        if registry is not None:
            registry.register(_Collector(self))

    def observe(self, seconds: float) -> None:
        self.durations[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.duration_sum += seconds


class _Collector(Collector):
    def __init__(self, m: Metrics) -> None:
        self.m = m

    def collect(self) -> Iterator[Metric]:
        m = self.m
        queries = CounterMetricFamily(
            "dnslab_authoritative_queries",
            "DNS queries answered, by transport, query type bucket and response code.",
            labels=["transport", "qtype", "rcode"],
        )
        merged: defaultdict[tuple[str, str, str], int] = defaultdict(int)
        counted = list(m.queries.items())
        if m.peers is not None:
            counted += list(m.peers.queries().items())
        for (transport, qtype, rcode), n in counted:
            merged[(transport, QTYPE_BUCKETS.get(qtype, "other"), rcode_name(rcode))] += n
        for labels, n in sorted(merged.items()):
            queries.add_metric(list(labels), n)
        yield queries
        for name, doc, value in (
            ("cache_hits", "Queries answered from the wire cache.", m.cache_hits),
            ("cache_misses", "Queries that ran the answer pipeline.", m.cache_misses),
            ("handler_errors", "Exceptions while answering (answered SERVFAIL).", m.handler_errors),
            ("dropped", "Packets dropped without a reply (malformed or not a query).", m.dropped),
            (
                "udp_send_dropped",
                "UDP replies dropped because the socket's send buffer was full.",
                m.udp_send_dropped,
            ),
        ):
            if m.peers is not None:
                value += m.peers.plain(name)
            yield CounterMetricFamily(f"dnslab_authoritative_{name}", doc, value=value)
        entries = GaugeMetricFamily(
            "dnslab_authoritative_cache_entries",
            "Entries in each wire cache (LRU, bounded by entries and a shared byte budget).",
            labels=["cache"],
        )
        size = GaugeMetricFamily(
            "dnslab_authoritative_cache_bytes",
            "Estimated bytes held by each wire cache (key, value and per-entry overhead).",
            labels=["cache"],
        )
        evictions = CounterMetricFamily(
            "dnslab_authoritative_cache_evictions",
            "Least recently used entries evicted to stay within the cache bounds.",
            labels=["cache"],
        )
        for cache_name, cache in sorted(m.caches.items()):
            entries.add_metric([cache_name], len(cache))
            size.add_metric([cache_name], cache.used)
            evictions.add_metric([cache_name], cache.evictions)
        yield entries
        yield size
        yield evictions
        yield GaugeMetricFamily(
            "dnslab_authoritative_tcp_connections",
            "TCP connections open now.",
            value=m.tcp_open(),
        )
        closed = CounterMetricFamily(
            "dnslab_authoritative_tcp_closed",
            "TCP connections closed or refused by the server, by reason (idle, io_timeout, "
            "connection_limit, per_source_limit, evicted_idle).",
            labels=["reason"],
        )
        for reason, n in sorted(m.tcp_closed.items()):
            closed.add_metric([reason], n)
        yield closed
        if m.rrl is not None:
            limited = CounterMetricFamily(
                "dnslab_authoritative_rrl_limited",
                "UDP replies over the rate limit (mod-rrl): slipped (sent truncated) or dropped.",
                labels=["action"],
            )
            limited.add_metric(["slipped"], m.rrl.slipped)
            limited.add_metric(["dropped"], m.rrl.dropped)
            yield limited
        cumulative = 0
        buckets = []
        for bound, count in zip((*DURATION_BUCKETS, float("inf")), m.durations, strict=True):
            cumulative += count
            buckets.append((str(bound) if bound != float("inf") else "+Inf", cumulative))
        yield HistogramMetricFamily(
            "dnslab_authoritative_query_duration_seconds",
            "Time to answer one query inside the server (parse to reply bytes); the first of every 8 queries is timed (a systematic sample: _count is the number timed).",
            buckets=buckets,
            sum_value=m.duration_sum,
        )


class Tally:
    """A labelled counter kept as plain integers (``labels(...).inc()`` is a dict increment),
    exported at scrape time as ``NAME_total``: for counts taken on the query path."""

    def __init__(
        self, name: str, documentation: str, labels: list[str], registry: CollectorRegistry
    ) -> None:
        self.name, self.documentation, self.label_names = name, documentation, labels
        self.counts: defaultdict[tuple[str, ...], int] = defaultdict(int)
        self.peers: Any = None  # --workers: the other workers' counts (workers.WorkerSums)
        registry.register(_TallyCollector(self))

    def labels(self, *values: str) -> TallyChild:
        return TallyChild(self.counts, tuple(values))


class TallyChild:
    __slots__ = ("counts", "key")

    def __init__(self, counts: defaultdict[tuple[str, ...], int], key: tuple[str, ...]) -> None:
        self.counts, self.key = counts, key

    def inc(self) -> None:
        self.counts[self.key] += 1


class _TallyCollector(Collector):
    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    def collect(self) -> Iterator[Metric]:
        t = self.tally
        family = CounterMetricFamily(t.name, t.documentation, labels=t.label_names)
        counts: defaultdict[tuple[str, ...], int] = defaultdict(int, t.counts)
        if t.peers is not None:
            for labels, n in t.peers.answers().items():
                counts[labels] += n
        for labels, n in sorted(counts.items()):
            family.add_metric(list(labels), n)
        yield family
