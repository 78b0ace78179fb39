"""Prometheus metrics of the resolver, on a registry passed in (never the global one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from resolver.core import Outcome, Reply
from resolver.upstream import KINDS

REJECT_REASONS = (
    "response",  # QR=1: dropped
    "short",  # shorter than a DNS header: dropped
    "denied",  # access-control deny: dropped (TCP: closed)
    "refused",  # access-control refuse: REFUSED header
    "malformed",  # FORMERR
    "opcode",  # not QUERY: NOTIMP, or REFUSED for NOTIFY
    "badvers",  # EDNS version above 0
    "transfer",  # AXFR/IXFR: REFUSED
    "class",  # not IN (CHAOS other than version/identity): REFUSED
    "rd0",  # RD=0 without allow_snoop: REFUSED
    "tcp_limit",  # incoming-num-tcp reached: connection closed
    "tcp_timeout",  # no whole query within the connection's deadline: closed
    "send_buffer_full",  # UDP reply dropped: socket send buffer full
)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ResolverMetrics:
    def __init__(self, registry: CollectorRegistry, entries: Callable[[], int]) -> None:
        p = "dnslab_resolver_"
        # answers by outcome: plain ints bumped per query (the fast path counts a hit with one
        # addition), exported as counters when scraped
        self.by_outcome: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self.fast_hits = 0  # hits answered from stored wire (counted apart: no enum hashing)
        registry.register(_OutcomeCounters(self))
        self.misses = Counter(
            p + "cache_misses_total", "Queries that had to ask upstream", registry=registry
        )
        self.prefetches = Counter(
            p + "prefetches_total",
            "Background refreshes started (prefetch or after stale)",
            registry=registry,
        )
        self.evictions = Counter(
            p + "cache_evictions_total", "Entries evicted by the LRU bound", registry=registry
        )
        self.entries = Gauge(p + "cache_entries", "Entries in the cache", registry=registry)
        self.entries.set_function(lambda: float(entries()))
        self.tcp_connections = Gauge(
            p + "tcp_connections", "Client TCP connections open", registry=registry
        )
        self.latency = Histogram(
            p + "upstream_latency_seconds",
            "Time for one successful upstream query",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            p + "upstream_errors_total", "Upstream failures by kind", ["kind"], registry=registry
        )
        for kind in KINDS:
            self.errors.labels(kind)
        self.rejections = Counter(
            p + "rejected_total",
            "Client messages refused or dropped instead of resolved, by reason",
            ["reason"],
            registry=registry,
        )
        for reason in REJECT_REASONS:
            self.rejections.labels(reason)

    def rejected(self, reason: str) -> None:
        self.rejections.labels(reason).inc()

    def answered(self, reply: Reply) -> None:
        self.by_outcome[reply.outcome] += 1

    def count(self, outcome: Outcome) -> None:
        self.by_outcome[outcome] += 1


class _OutcomeCounters(Collector):
    """queries_total{outcome}, cache_hits_total and stale_answers_total from plain ints."""

    def __init__(self, metrics: ResolverMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        p = "dnslab_resolver_"
        counts = dict(self.metrics.by_outcome)
        counts[Outcome.HIT] += self.metrics.fast_hits
        queries = CounterMetricFamily(
            p + "queries", "Client queries answered, by outcome", labels=["outcome"]
        )
        for outcome, n in counts.items():
            queries.add_metric([outcome.value], n)
        yield queries
        yield CounterMetricFamily(
            p + "cache_hits", "Answers from fresh cache", value=counts[Outcome.HIT]
        )
        yield CounterMetricFamily(
            p + "stale_answers",
            "Expired answers served (RFC 8767)",
            value=counts[Outcome.STALE],
        )
