"""Prometheus metrics of the resolver, on a registry passed in (never the global one)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from resolver.core import Outcome, Reply
from resolver.upstream import KINDS

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class ResolverMetrics:
    def __init__(self, registry: CollectorRegistry, entries: Callable[[], int]) -> None:
        p = "dnslab_resolver_"
        self.queries = Counter(
            p + "queries_total",
            "Client queries answered, by outcome",
            ["outcome"],
            registry=registry,
        )
        self.hits = Counter(p + "cache_hits_total", "Answers from fresh cache", registry=registry)
        self.misses = Counter(
            p + "cache_misses_total", "Queries that had to ask upstream", registry=registry
        )
        self.stale = Counter(
            p + "stale_answers_total", "Expired answers served (RFC 8767)", registry=registry
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
        self._by_outcome = {o: self.queries.labels(o.value) for o in Outcome}

    def answered(self, reply: Reply) -> None:
        self.count(reply.outcome)

    def count(self, outcome: Outcome) -> None:
        self._by_outcome[outcome].inc()
        if outcome is Outcome.HIT:
            self.hits.inc()
        elif outcome is Outcome.STALE:
            self.stale.inc()
