"""The sans-I/O resolution step on a virtual clock: one test per behaviour and knob."""

from __future__ import annotations

import dns.edns
import dns.rcode

from lab.clock import VirtualClock
from resolver.core import NeedUpstream, Outcome, Purpose, Reply, ResolverCore
from resolver.ecs import ClientSubnet
from resolver.settings import ResolverSettings
from tests.resolver.messages import query, rdata, response, ttls


def fill(
    core: ResolverCore, clock: VirtualClock, *answers: str, ttl: int = 10, **kw: object
) -> Reply:
    step = core.lookup(query(**kw), clock.now())  # type: ignore[arg-type]
    assert isinstance(step, NeedUpstream)
    return core.on_upstream(step.request, response(step.request, *answers, ttl=ttl), clock.now())


def test_miss_then_hit_with_decrementing_ttl() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings(ttl_clock="exact"))
    first = fill(core, clock, "127.0.1.1", ttl=10)
    assert first.outcome is Outcome.MISS and ttls(first.sections) == [10]
    clock.advance(3.5)
    hit = core.lookup(query(), clock.now())
    assert isinstance(hit, Reply) and hit.outcome is Outcome.HIT
    assert ttls(hit.sections) == [6] and rdata(hit.sections) == ["127.0.1.1"]
    clock.advance(6.5)
    assert isinstance(core.lookup(query(), clock.now()), NeedUpstream)


def test_serve_original_ttl_does_not_decrement() -> None:
    clock, core = (
        VirtualClock(),
        ResolverCore(ResolverSettings(serve_original_ttl=True, ttl_clock="exact")),
    )
    fill(core, clock, "127.0.1.1", ttl=10)
    clock.advance(9)
    hit = core.lookup(query(), clock.now())
    assert isinstance(hit, Reply) and ttls(hit.sections) == [10]
    clock.advance(1)
    assert isinstance(core.lookup(query(), clock.now()), NeedUpstream)  # still expires


def test_negative_answer_cached_and_decremented() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings(ttl_clock="exact"))
    step = core.lookup(query("nope.lab.example."), clock.now())
    assert isinstance(step, NeedUpstream)
    resp = response(step.request, rcode=dns.rcode.NXDOMAIN, soa=(3600, 5))
    first = core.on_upstream(step.request, resp, clock.now())
    assert first.rcode == dns.rcode.NXDOMAIN and ttls(first.sections) == [5]
    clock.advance(2)
    hit = core.lookup(query("nope.lab.example."), clock.now())
    assert isinstance(hit, Reply) and hit.rcode == dns.rcode.NXDOMAIN
    assert ttls(hit.sections) == [3] and hit.sections.authority
    clock.advance(3)
    assert isinstance(core.lookup(query("nope.lab.example."), clock.now()), NeedUpstream)


def test_prefetch_refresh_request_on_late_hit() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings(prefetch=True))
    fill(core, clock, "127.0.1.1", ttl=100)
    clock.advance(50)
    mid = core.lookup(query(), clock.now())
    assert isinstance(mid, Reply) and mid.refresh is None
    clock.advance(41)
    late = core.lookup(query(), clock.now())
    assert isinstance(late, Reply) and late.outcome is Outcome.HIT
    assert late.refresh is not None and late.refresh.purpose is Purpose.PREFETCH
    # the prefetch answer replaces the entry: full TTL again
    core.on_upstream(late.refresh, response(late.refresh, "127.0.2.1", ttl=100), clock.now())
    again = core.lookup(query(), clock.now())
    assert isinstance(again, Reply) and ttls(again.sections) == [100]
    assert rdata(again.sections) == ["127.0.2.1"]


def test_no_prefetch_when_off() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings(prefetch=False))
    fill(core, clock, "127.0.1.1", ttl=100)
    clock.advance(95)
    late = core.lookup(query(), clock.now())
    assert isinstance(late, Reply) and late.refresh is None


def test_serve_expired_at_once_with_reply_ttl_and_refresh() -> None:
    s = ResolverSettings(serve_expired=True, serve_expired_reply_ttl=30)
    clock, core = VirtualClock(), ResolverCore(s)
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(60)
    stale = core.lookup(query(), clock.now())
    assert isinstance(stale, Reply) and stale.outcome is Outcome.STALE
    assert ttls(stale.sections) == [30] and rdata(stale.sections) == ["127.0.1.1"]
    assert stale.refresh is not None and stale.refresh.purpose is Purpose.REFRESH


def test_serve_expired_ttl_limits_staleness() -> None:
    s = ResolverSettings(serve_expired=True, serve_expired_ttl=20, ttl_clock="exact")
    clock, core = VirtualClock(), ResolverCore(s)
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(24.9)
    assert isinstance(core.lookup(query(), clock.now()), Reply)
    clock.advance(0.1)
    assert isinstance(core.lookup(query(), clock.now()), NeedUpstream)


def test_serve_expired_off_means_miss_and_servfail_on_failure() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings())
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(6)
    step = core.lookup(query(), clock.now())
    assert isinstance(step, NeedUpstream) and step.stale_at is None
    failed = core.on_upstream_failure(step.request, "timeout", clock.now())
    assert failed.outcome is Outcome.FAIL and failed.rcode == dns.rcode.SERVFAIL
    assert failed.upstream_error == "timeout"


def test_client_timeout_waits_then_serves_stale() -> None:
    s = ResolverSettings(serve_expired=True, serve_expired_client_timeout=1800)
    clock, core = VirtualClock(), ResolverCore(s)
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(10)
    step = core.lookup(query(), clock.now())
    assert isinstance(step, NeedUpstream) and step.stale_at == clock.now() + 1.8
    clock.advance(1.8)
    late = core.on_client_timeout(step.request, clock.now())
    assert late is not None and late.outcome is Outcome.STALE and ttls(late.sections) == [30]
    # upstream answers later: the cache is refreshed for the next client
    core.on_upstream(step.request, response(step.request, "127.0.2.1", ttl=5), clock.now())
    fresh = core.lookup(query(), clock.now())
    assert isinstance(fresh, Reply) and rdata(fresh.sections) == ["127.0.2.1"]


def test_rfc8767_stale_instead_of_servfail_and_timeout() -> None:
    s = ResolverSettings(serve_expired=True, serve_expired_client_timeout=500)
    clock, core = VirtualClock(), ResolverCore(s)
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(10)
    step = core.lookup(query(), clock.now())
    assert isinstance(step, NeedUpstream)
    servfail = response(step.request, rcode=dns.rcode.SERVFAIL)
    got = core.on_upstream(step.request, servfail, clock.now())
    assert got.outcome is Outcome.STALE and got.upstream_error == "servfail"
    assert got.rcode == dns.rcode.NOERROR and rdata(got.sections) == ["127.0.1.1"]
    timed_out = core.on_upstream_failure(step.request, "timeout", clock.now())
    assert timed_out.outcome is Outcome.STALE


def test_servfail_passed_through_and_not_cached() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings())
    step = core.lookup(query(), clock.now())
    assert isinstance(step, NeedUpstream)
    got = core.on_upstream(step.request, response(step.request, rcode=dns.rcode.SERVFAIL), 0.0)
    assert got.outcome is Outcome.PASS and got.rcode == dns.rcode.SERVFAIL
    assert isinstance(core.lookup(query(), clock.now()), NeedUpstream)


def test_clamps_show_in_served_ttl() -> None:
    clock = VirtualClock()
    core = ResolverCore(ResolverSettings(cache_min_ttl=30, cache_max_ttl=60))
    assert ttls(fill(core, clock, "127.0.1.1", ttl=1).sections) == [30]
    clock.advance(29)
    hit = core.lookup(query(), clock.now())
    assert isinstance(hit, Reply) and ttls(hit.sections) == [1]


def test_msg_cache_size_bounds_entries() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings(msg_cache_size=3))
    for i in range(5):
        fill(core, clock, "127.0.1.1", name=f"h{i}.lab.example.")
    assert len(core.cache) == 3 and core.cache.evictions == 2


def test_ecs_forwarded_and_answer_reused_within_scope() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings())
    step = core.lookup(query(client="127.2.3.4"), clock.now())
    assert isinstance(step, NeedUpstream) and str(step.request.ecs) == "127.2.3.0/24"
    resp = response(step.request, "127.0.2.1", scope=16)
    assert core.on_upstream(step.request, resp, clock.now()).scope.prefix == 16
    assert isinstance(core.lookup(query(client="127.2.99.1"), clock.now()), Reply)
    assert isinstance(core.lookup(query(client="127.1.0.1"), clock.now()), NeedUpstream)


def test_ecs_off_sends_nothing_and_caches_globally() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings(send_client_subnet=False))
    step = core.lookup(query(client="127.2.3.4"), clock.now())
    assert isinstance(step, NeedUpstream) and step.request.ecs is None
    core.on_upstream(step.request, response(step.request, "127.0.2.1"), clock.now())
    assert isinstance(core.lookup(query(client="127.1.0.1"), clock.now()), Reply)


def test_client_ecs_opt_out_gets_only_global_answers() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings())
    fill(core, clock, "127.0.2.1", client="127.2.3.4")  # no ECS echoed: scope 0, global
    opt_out = ClientSubnet.from_text("127.2.3.4", 0)
    assert isinstance(core.lookup(query(client="127.2.3.4", ecs=opt_out), clock.now()), Reply)
    step = core.lookup(query("other.lab.example.", client="127.2.3.4", ecs=opt_out), 0.0)
    assert isinstance(step, NeedUpstream) and step.request.ecs is not None
    assert step.request.ecs.source == 0


def test_ecs_echo_mismatch_is_an_upstream_error() -> None:
    clock, core = VirtualClock(), ResolverCore(ResolverSettings())
    step = core.lookup(query(client="127.2.3.4"), clock.now())
    assert isinstance(step, NeedUpstream)
    resp = response(step.request, "127.0.2.1")
    resp.use_edns(0, options=[dns.edns.ECSOption("127.9.9.0", 24, 24)])
    got = core.on_upstream(step.request, resp, clock.now())
    assert got.outcome is Outcome.FAIL and got.upstream_error == "ecs_mismatch"


def test_stale_refresh_time_skips_upstream_after_a_failure() -> None:
    s = ResolverSettings(
        serve_expired=True, serve_expired_client_timeout=1000, stale_refresh_time=30
    )
    clock, core = VirtualClock(), ResolverCore(s)
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(10)
    step = core.lookup(query(), clock.now())
    assert isinstance(step, NeedUpstream)
    assert core.on_upstream_failure(step.request, "timeout", clock.now()).outcome is Outcome.STALE
    clock.advance(29)
    quick = core.lookup(query(), clock.now())  # within stale-refresh-time: stale at once
    assert isinstance(quick, Reply) and quick.outcome is Outcome.STALE and quick.refresh is None
    clock.advance(1)
    assert isinstance(core.lookup(query(), clock.now()), NeedUpstream)  # try upstream again


def test_stale_refresh_time_off_always_asks() -> None:
    s = ResolverSettings(serve_expired=True, serve_expired_client_timeout=1000)
    clock, core = VirtualClock(), ResolverCore(s)
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(10)
    step = core.lookup(query(), clock.now())
    assert isinstance(step, NeedUpstream)
    core.on_upstream_failure(step.request, "timeout", clock.now())
    assert isinstance(core.lookup(query(), clock.now()), NeedUpstream)


def test_serve_expired_reply_ttl_is_configurable() -> None:
    s = ResolverSettings(serve_expired=True, serve_expired_reply_ttl=0)  # dnsmasq's flavour
    clock, core = VirtualClock(), ResolverCore(s)
    fill(core, clock, "127.0.1.1", ttl=5)
    clock.advance(6)
    stale = core.lookup(query(), clock.now())
    assert isinstance(stale, Reply) and stale.outcome is Outcome.STALE
    assert ttls(stale.sections) == [0]


def test_max_client_subnet_reaches_the_upstream_request() -> None:
    core = ResolverCore(ResolverSettings(max_client_subnet_ipv4=16, max_client_subnet_ipv6=48))
    v4 = core.lookup(query(client="127.2.3.4"), 0.0)
    v6 = core.lookup(query(client="2001:db8:1:2::1"), 0.0)
    assert isinstance(v4, NeedUpstream) and str(v4.request.ecs) == "127.2.0.0/16"
    assert isinstance(v6, NeedUpstream) and str(v6.request.ecs) == "2001:db8:1::/48"
