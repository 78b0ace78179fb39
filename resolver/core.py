"""The resolution step, sans I/O: decisions in, decisions out (like dnspython's resolver class or
mitmproxy's layers). The asyncio shell in ``resolver/server.py`` only moves bytes and runs timers;
a drill or simulation can drive the same object on a virtual clock.

::

    lookup(query, now)               -> Reply                    answer from cache (maybe .refresh)
                                     |  NeedUpstream             ask upstream (maybe .stale_at)
    on_upstream(request, resp, now)  -> Reply                    store, answer (or stale on SERVFAIL)
    on_upstream_failure(req, kind, now) -> Reply                 stale (RFC 8767) or SERVFAIL
    on_client_timeout(request, now)  -> Reply | None             serve-expired-client-timeout fired

``Reply.refresh`` is an upstream request the shell should send in the background (a prefetch,
or the refresh after a stale answer); its outcome goes back through ``on_upstream`` /
``on_upstream_failure`` and the reply they return is dropped.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import dns.edns
import dns.message
import dns.name
import dns.rcode

from resolver.answers import Sections, aged, fixed, prepare, sections_of
from resolver.cache import Cache, CachePolicy, Entry
from resolver.ecs import GLOBAL, ClientSubnet, Scope, echo_matches, scope_of, subnet_to_forward
from resolver.settings import ResolverSettings, ecs_enabled

Question = tuple[str, int, int]  # (lower-case qname with trailing dot, qtype, qclass)


class Outcome(enum.Enum):
    HIT = "hit"  # fresh from cache
    MISS = "miss"  # fresh from upstream
    STALE = "stale"  # expired entry served (RFC 8767)
    PASS = "pass"  # upstream answer passed on without caching (SERVFAIL, REFUSED, ...)
    FAIL = "fail"  # we made the SERVFAIL (upstream timed out or failed, nothing stale)


class Purpose(enum.Enum):
    CLIENT = "client"  # a client is waiting
    PREFETCH = "prefetch"  # hit in the last 10% of the TTL
    REFRESH = "refresh"  # after serving stale


@dataclass(frozen=True, slots=True)
class Query:
    qname: dns.name.Name
    qtype: int
    qclass: int = 1
    client: str | None = None  # source address of the client
    ecs: ClientSubnet | None = None  # the client's own ECS option, if it sent one

    @property
    def question(self) -> Question:
        return (self.qname.to_text().lower(), self.qtype, self.qclass)


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    qname: dns.name.Name
    qtype: int
    qclass: int
    ecs: ClientSubnet | None
    purpose: Purpose = Purpose.CLIENT

    @property
    def question(self) -> Question:
        return (self.qname.to_text().lower(), self.qtype, self.qclass)

    @property
    def key(self) -> tuple[Question, ClientSubnet | None]:
        """Identical in-flight requests share one upstream query."""
        return (self.question, self.ecs)


@dataclass(frozen=True, slots=True)
class Reply:
    sections: Sections
    outcome: Outcome
    scope: Scope = GLOBAL
    refresh: UpstreamRequest | None = None
    upstream_error: str | None = None  # kind, when an upstream answer counted as an error
    entry: Entry[Sections] | None = None  # the fresh cache entry served (HIT, MISS), if any

    @property
    def rcode(self) -> int:
        return self.sections.rcode


@dataclass(frozen=True, slots=True)
class NeedUpstream:
    request: UpstreamRequest
    stale_at: float | None = None  # answer stale at this time if upstream has not answered


SERVFAIL = Sections(int(dns.rcode.SERVFAIL), (), (), ())


def cache_policy(settings: ResolverSettings) -> CachePolicy:
    """The cache knobs of a [resolver] table (for a ``Cache`` used on its own, e.g. in a sim)."""
    return CachePolicy(
        max_entries=settings.msg_cache_size,
        prefetch=settings.prefetch,
        serve_expired=settings.serve_expired,
        serve_expired_ttl=settings.serve_expired_ttl,
        prefetch_trigger=settings.prefetch_trigger,
        prefetch_eligibility=settings.prefetch_eligibility,
        ttl_clock=settings.ttl_clock,
    )


class ResolverCore:
    def __init__(self, settings: ResolverSettings, cache: Cache[Sections] | None = None) -> None:
        self.settings = settings
        self.cache: Cache[Sections] = cache or Cache(cache_policy(settings))
        self._failed_at: dict[tuple[Question, ClientSubnet | None], float] = {}

    # -- client side ---------------------------------------------------------------------------
    def upstream_subnet(self, query: Query) -> ClientSubnet | None:
        s = self.settings
        return subnet_to_forward(
            query.client,
            query.ecs,
            enabled=ecs_enabled(s),
            max_ipv4=s.max_client_subnet_ipv4,
            max_ipv6=s.max_client_subnet_ipv6,
        )

    def lookup(self, query: Query, now: float) -> Reply | NeedUpstream:
        subnet = self.upstream_subnet(query)
        request = UpstreamRequest(query.qname, query.qtype, query.qclass, subnet)
        hit = self.cache.get(query.question, subnet, now)
        if hit is None:
            return NeedUpstream(request)
        if not hit.stale:
            refresh = with_purpose(request, Purpose.PREFETCH) if hit.prefetch else None
            served = self._serve(hit.entry, now)
            return Reply(served, Outcome.HIT, hit.entry.scope, refresh, entry=hit.entry)
        if self._recently_failed(request, now):  # stale-refresh-time: do not ask again yet
            return self._stale(hit.entry, None)
        timeout_ms = self.settings.serve_expired_client_timeout
        if timeout_ms == 0:
            return self._stale(hit.entry, with_purpose(request, Purpose.REFRESH))
        return NeedUpstream(request, stale_at=now + timeout_ms / 1000)

    # -- upstream side -------------------------------------------------------------------------
    def on_upstream(
        self, request: UpstreamRequest, response: dns.message.Message, now: float
    ) -> Reply:
        scope, ecs_error = self._scope(request, response)
        if ecs_error is not None:
            return self.on_upstream_failure(request, ecs_error, now)
        rcode = int(response.rcode())
        if rcode in (dns.rcode.SERVFAIL, dns.rcode.REFUSED):
            kind = "servfail" if rcode == dns.rcode.SERVFAIL else "refused"
            self._note_failure(request, now)
            fallback = self._fallback(request, now, kind)
            if fallback is not None:
                return fallback
            return Reply(sections_of(response), Outcome.PASS, scope, upstream_error=kind)
        self._failed_at.pop(request.key, None)
        cacheable = prepare(response, self.settings)
        if cacheable is None:
            return Reply(sections_of(response), Outcome.PASS, scope)
        entry = self.cache.put(
            request.question, scope, cacheable.sections, cacheable.ttl, now, cacheable.negative
        )
        if entry is None:
            return Reply(cacheable.sections, Outcome.MISS, scope)
        return Reply(self._serve(entry, now), Outcome.MISS, scope, entry=entry)

    def on_upstream_failure(self, request: UpstreamRequest, kind: str, now: float) -> Reply:
        self._note_failure(request, now)
        fallback = self._fallback(request, now, kind)
        if fallback is not None:
            return fallback
        return Reply(SERVFAIL, Outcome.FAIL, upstream_error=kind)

    def on_client_timeout(self, request: UpstreamRequest, now: float) -> Reply | None:
        return self._fallback(request, now, None)

    # -- helpers -------------------------------------------------------------------------------
    def _note_failure(self, request: UpstreamRequest, now: float) -> None:
        if self.settings.stale_refresh_time <= 0:
            return
        self._failed_at.pop(request.key, None)
        self._failed_at[request.key] = now
        while len(self._failed_at) > max(1, self.settings.msg_cache_size):
            del self._failed_at[next(iter(self._failed_at))]  # oldest first

    def _recently_failed(self, request: UpstreamRequest, now: float) -> bool:
        failed = self._failed_at.get(request.key)
        return failed is not None and now - failed < self.settings.stale_refresh_time

    def _fallback(self, request: UpstreamRequest, now: float, error: str | None) -> Reply | None:
        """What the cache can still say for a request upstream did not answer well (RFC 8767)."""
        hit = self.cache.get(request.question, request.ecs, now)
        if hit is None:
            return None
        if not hit.stale:  # filled meanwhile by another query
            return Reply(self._serve(hit.entry, now), Outcome.HIT, hit.entry.scope, None, error)
        return self._stale(hit.entry, None, error)

    def _serve(self, entry: Entry[Sections], now: float) -> Sections:
        if self.settings.serve_original_ttl:
            return entry.payload
        return aged(entry.payload, entry.age(now))

    def _stale(
        self, entry: Entry[Sections], refresh: UpstreamRequest | None, error: str | None = None
    ) -> Reply:
        sections = fixed(entry.payload, self.settings.serve_expired_reply_ttl)
        return Reply(sections, Outcome.STALE, entry.scope, refresh, error)

    def _scope(
        self, request: UpstreamRequest, response: dns.message.Message
    ) -> tuple[Scope, str | None]:
        sent = request.ecs
        for option in response.options:
            if isinstance(option, dns.edns.ECSOption):
                if sent is None:
                    return GLOBAL, None  # we sent none: an echo means nothing to us
                try:
                    got = ClientSubnet.from_text(option.address, option.srclen)
                except ValueError:
                    return GLOBAL, "ecs_mismatch"
                if not echo_matches(sent, got.family, got.address, option.srclen):
                    return GLOBAL, "ecs_mismatch"
                return scope_of(sent, option.scopelen), None
        return GLOBAL, None


def with_purpose(request: UpstreamRequest, purpose: Purpose) -> UpstreamRequest:
    return UpstreamRequest(request.qname, request.qtype, request.qclass, request.ecs, purpose)
