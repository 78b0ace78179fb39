"""GeoDNS services through the real query engine (in process, no sockets): answers, ECS, swaps."""

from __future__ import annotations

from pathlib import Path

import dns.edns
import dns.message
import dns.rcode
import dns.rdatatype
import pytest
from prometheus_client import CollectorRegistry

from authoritative.engine import Engine
from authoritative.explain import explain, render
from authoritative.geo import Client, geomap_from_config
from authoritative.geo_runtime import GeoRuntime, WallClock
from authoritative.health import HealthInputs, HealthRules, compute_view
from authoritative.services import Services, decide
from authoritative.state import ServingState
from authoritative.zonefile import load_zones
from healthcheck.events import RegionStatus
from lab.clock import VirtualClock
from lab.config import LabConfig, load_config, parse_config

REPO = Path(__file__).resolve().parents[2]


def lab(extra: str = "", **replace: str) -> LabConfig:
    text = (REPO / "lab.toml").read_text()
    for old, new in replace.items():
        text = text.replace(old, new)
    return parse_config(text + extra, str(REPO / "lab.toml"), str(REPO))


class Harness:
    def __init__(self, cfg: LabConfig, now: float = 1000.0) -> None:
        zones = load_zones([f"{o}={cfg.path(p)}" for o, p in cfg.authoritative.zones.items()])
        self.engine = Engine(ServingState(zones))
        self.clock = VirtualClock(now)
        self.registry = CollectorRegistry()
        self.runtime = GeoRuntime(
            cfg, ServingState(zones), self.engine.swap, self.registry, self.clock
        )  # type: ignore[arg-type]

    def ask(
        self, src: str, name: str = "www.lab.example.", qtype: str = "A", ecs: str | None = None
    ) -> dns.message.Message:
        options = []
        if ecs is not None:
            addr, prefix = ecs.split("/")
            options.append(dns.edns.ECSOption(addr, int(prefix)))
        q = dns.message.make_query(
            name, qtype, use_edns=0 if ecs or options else None, options=options
        )
        reply = self.engine.handle(q.to_wire(), "udp", (src, 5353))
        assert reply is not None
        return dns.message.from_wire(reply)


def addrs(m: dns.message.Message) -> list[str]:
    return sorted(r.to_text() for rrset in m.answer for r in rrset)


def ecs_scope(m: dns.message.Message) -> int | None:
    for opt in m.options:
        if isinstance(opt, dns.edns.ECSOption):
            return int(opt.scopelen)
    return None


def test_each_location_gets_its_region_and_forcing_moves_only_its_clients() -> None:
    h = Harness(lab())
    assert addrs(h.ask("127.1.0.9")) == ["127.0.1.1"]
    assert addrs(h.ask("127.2.0.9")) == ["127.0.2.1"]
    assert addrs(h.ask("127.3.0.9")) == ["127.0.3.1"]
    assert addrs(h.ask("127.0.0.1")) == ["127.0.1.1"]  # default order
    h.runtime.force("eu-west", False)
    assert addrs(h.ask("127.1.0.9")) == ["127.0.1.1"]
    assert addrs(h.ask("127.2.0.9")) == ["127.0.1.1"]  # eu -> us-east next
    assert addrs(h.ask("127.3.0.9")) == ["127.0.3.1"]
    h.runtime.force("eu-west", None)
    assert addrs(h.ask("127.2.0.9")) == ["127.0.2.1"]


def test_ecs_decides_and_the_reply_carries_the_scope() -> None:
    h = Harness(lab())
    m = h.ask("127.0.0.1", ecs="127.3.4.0/24")
    assert addrs(m) == ["127.0.3.1"] and ecs_scope(m) == 16
    m = h.ask("127.0.0.1", ecs="127.2.0.0/16")
    assert addrs(m) == ["127.0.2.1"] and ecs_scope(m) == 16
    m = h.ask("127.2.0.1", ecs="0.0.0.0/0")  # "don't use my clients' address": source decides
    assert addrs(m) == ["127.0.2.1"] and ecs_scope(m) == 0
    assert ecs_scope(h.ask("127.2.0.1")) is None  # no ECS asked, none sent


def test_failover_policy_answers_scope_zero() -> None:
    extra = '\n[services.api]\nname = "api.lab.example."\npolicy = "failover"\nregions = ["us-east", "eu-west"]\n'
    h = Harness(lab(extra))
    m = h.ask("127.0.0.1", "api.lab.example.", ecs="127.3.4.0/24")
    assert addrs(m) == ["127.0.1.1"] and ecs_scope(m) == 0


@pytest.mark.parametrize(
    ("mode", "rcode", "answer"),
    [
        ("fail-open", "NOERROR", ["127.0.2.1"]),
        ("first", "NOERROR", ["127.0.2.1"]),
        ("nodata", "NOERROR", []),
        ("servfail", "SERVFAIL", []),
    ],
)
def test_all_down_behaviours(mode: str, rcode: str, answer: list[str]) -> None:
    h = Harness(lab(**{'all_down = "fail-open"': f'all_down = "{mode}"'}))
    for r in ("us-east", "eu-west", "ap-south"):
        h.runtime.force(r, False)
    m = h.ask("127.2.0.9")
    assert dns.rcode.to_text(m.rcode()) == rcode and addrs(m) == answer
    if mode == "nodata":
        assert m.authority and m.authority[0].rdtype == dns.rdatatype.SOA


def test_aaaa_and_cname_regions() -> None:
    cfg = lab(
        **{
            'v4 = ["127.0.2.1"]': 'v4 = ["127.0.2.1"]\nv6 = ["2001:db8::2"]',
            'v4 = ["127.0.3.1"]': 'cname = "ap-south.lab.example."',
        }
    )
    h = Harness(cfg)
    assert addrs(h.ask("127.2.0.9", qtype="AAAA")) == ["2001:db8::2"]
    assert addrs(h.ask("127.1.0.9", qtype="AAAA")) == []  # us-east has no v6: NODATA
    m = h.ask("127.3.0.9")
    assert m.answer[0].rdtype == dns.rdatatype.CNAME
    assert m.answer[0][0].to_text() == "ap-south.lab.example."
    # the target is in the zone: chased like static data (RFC 1034 §4.3.2)
    assert (
        m.answer[1].name.to_text() == "ap-south.lab.example."
        and m.answer[1][0].to_text() == "127.0.3.1"
    )
    m = h.ask("127.3.0.9", qtype="AAAA")
    assert [r.rdtype for r in m.answer] == [dns.rdatatype.CNAME]
    assert addrs(h.ask("127.2.0.9", qtype="TXT")) == []


def test_dynamic_ttl_counts_down_on_the_virtual_clock() -> None:
    cfg = lab(**{'ttl_policy = "fixed"': 'ttl_policy = "dynamic"', "ttl_max = 30": "ttl_max = 300"})
    h = Harness(cfg, now=1000.0)
    assert h.ask("127.2.0.9").answer[0].ttl == 5  # assumed up: could change any moment -> min
    h.runtime.force("eu-west", True)  # forced: never changes by itself -> max
    assert h.ask("127.2.0.9").answer[0].ttl == 300


def test_decide_and_explain_text() -> None:
    cfg = lab()
    inputs = HealthInputs(("local",), tuple(cfg.regions), 0.0).force("eu-west", False, 0.0)
    view = compute_view(inputs, HealthRules(), now=10.0)
    services = Services(cfg, geomap_from_config(cfg), view)
    d = decide(services, "www", Client.from_source("127.2.0.9"), 1, 10.0)
    assert d.selection.chosen == ("us-east",) and d.scope == 16
    e = explain(services, "www.lab.example.", 1, Client.from_source("127.2.0.9"), 10.0, "test")
    text = render(e)
    assert "location   eu (matched 127.2.0.0/16)" in text
    assert "1. eu-west   down (forced) skipped: down" in text
    assert "answer     www.lab.example. 30 IN A 127.0.1.1" in text
    assert e["order"] == ["eu-west", "us-east", "ap-south"] and e["ttl"] == 30


def test_runtime_clock_default_is_wall_time() -> None:
    assert WallClock().now() > 1.7e9
    assert load_config(REPO / "lab.toml").services["www"].ttl == 30


def status(
    region: str, state: str, rtt: float | None = None, checker: str = "local"
) -> RegionStatus:
    return RegionStatus(
        checker=checker, region=region, state=state, since=900.0, reason="t", rtt_s=rtt,
        next_change_at=1100.0, next_change_in_s=100.0, last_probe_at=999.0, last_detail="200",
        probes=5, failures=0, transitions=1,
    )  # fmt: skip


POLICIES = """
[services.api]
name = "api.lab.example."
policy = "weighted"
weights = { us-east = 1, eu-west = 1, ap-south = 0 }
[services.all]
name = "all.lab.example."
policy = "multivalue"
regions = ["us-east", "eu-west", "ap-south"]
max_answers = 2
[services.near]
name = "near.lab.example."
policy = "latency"
regions = ["us-east", "eu-west", "ap-south"]
"""


def test_weighted_multivalue_and_latency_through_the_engine() -> None:
    cfg = lab(POLICIES, **{'location = "na"': 'location = "eu"'})
    h = Harness(cfg)
    # weighted: sticky per /24, both weighted regions used across subnets, ap-south (weight 0) never
    first = {addrs(h.ask(f"127.9.{i}.1", "api.lab.example."))[0] for i in range(40)}
    assert first == {"127.0.1.1", "127.0.2.1"}
    assert addrs(h.ask("127.9.7.1", "api.lab.example.")) == addrs(
        h.ask("127.9.7.200", "api.lab.example.")
    )
    m = h.ask("127.0.0.1", "api.lab.example.", ecs="127.9.7.0/24")
    assert ecs_scope(m) == 24
    # multivalue: the first two healthy, in config order
    assert addrs(h.ask("127.2.0.1", "all.lab.example.")) == ["127.0.1.1", "127.0.2.1"]
    h.runtime.force("us-east", False)
    assert addrs(h.ask("127.2.0.1", "all.lab.example.")) == ["127.0.2.1", "127.0.3.1"]
    h.runtime.force("us-east", None)
    # latency: RTTs reported by the checker in eu decide for eu clients
    h.runtime.on_update("local", status("us-east", "up", 0.030))
    h.runtime.on_update("local", status("eu-west", "up", 0.090))
    h.runtime.on_update("local", status("ap-south", "up", 0.004))
    assert addrs(h.ask("127.2.0.1", "near.lab.example.")) == ["127.0.3.1"]
    h.runtime.on_update("local", status("ap-south", "down", None))
    assert addrs(h.ask("127.2.0.1", "near.lab.example.")) == ["127.0.1.1"]


def test_runtime_reads_checker_statuses() -> None:
    h = Harness(lab())
    h.runtime.on_update("local", status("eu-west", "down"))
    assert addrs(h.ask("127.2.0.9")) == ["127.0.1.1"]
    h.runtime.on_update("local", status("eu-west", "unknown"))  # no verdict: the assumption again
    assert addrs(h.ask("127.2.0.9")) == ["127.0.2.1"]
    h.runtime.on_update("nobody", status("eu-west", "down"))  # not a configured checker: ignored
    h.runtime.on_update("local", status("mars", "down"))  # not a configured region: ignored
    assert addrs(h.ask("127.2.0.9")) == ["127.0.2.1"]
    h.runtime.on_update("local", status("eu-west", "down"))
    h.runtime.on_status("local", False)
    v = h.runtime.view()["eu-west"]
    assert not v.up and "feed down" in v.why


def test_answers_are_counted_per_service_region_and_location() -> None:
    h = Harness(lab())
    for _ in range(3):
        h.ask("127.2.0.9")
    h.runtime.force("eu-west", False)
    h.ask("127.2.0.9")
    value = h.registry.get_sample_value
    labels = {"service": "www", "location": "eu"}
    assert value("dnslab_authoritative_geo_answers_total", {**labels, "region": "eu-west"}) == 3
    assert value("dnslab_authoritative_geo_answers_total", {**labels, "region": "us-east"}) == 1


def test_ipv6_ecs_locations_and_scope() -> None:
    h = Harness(lab(**{'eu = ["127.2.0.0/16"]': 'eu = ["127.2.0.0/16", "2001:db8:2::/48"]'}))
    m = h.ask("127.0.0.1", ecs="2001:db8:2:7::/56")
    assert addrs(m) == ["127.0.2.1"] and ecs_scope(m) == 48
    # unmatched: default order; 2001:db8:9:: and 2001:db8:2:: share 44 bits, so /45 is the
    # widest block around the client without eu's network in it
    m = h.ask("127.0.0.1", ecs="2001:db8:9::/56")
    assert addrs(m) == ["127.0.1.1"] and ecs_scope(m) == 45


def test_a_probe_that_changes_nothing_keeps_the_caches_and_moves_the_dynamic_ttl() -> None:
    """Dynamic TTLs: a probe confirming every state moves only the time the state could next
    change. No new serving state, no cache flushed; the next answer's TTL follows the new
    time. A real change (eu-west down) still swaps."""
    cfg = lab(**{'ttl_policy = "fixed"': 'ttl_policy = "dynamic"', "ttl_max = 30": "ttl_max = 300"})
    h = Harness(cfg)
    h.runtime.on_update("local", status("eu-west", "up"))  # could change at 1100
    assert h.ask("127.2.0.9").answer[0].ttl == 100
    swaps = h.registry.get_sample_value("dnslab_authoritative_geo_swaps_total")
    state = h.engine.state
    kept = len(h.engine.cache), len(h.engine.exact_dynamic["udp"])
    assert kept[0] and kept[1]  # the LRU caches are cleared in place: compare what they hold
    later = status("eu-west", "up").model_copy(
        update={"last_probe_at": 1001.0, "next_change_at": 1150.0}
    )
    h.runtime.on_update("local", later)
    assert h.engine.state is state
    assert (len(h.engine.cache), len(h.engine.exact_dynamic["udp"])) == kept
    assert h.registry.get_sample_value("dnslab_authoritative_geo_swaps_total") == swaps
    m = h.ask("127.2.0.9")
    assert addrs(m) == ["127.0.2.1"] and m.answer[0].ttl == 150
    h.runtime.on_update("local", later.model_copy(update={"state": "down"}))
    assert h.engine.state is not state
    assert h.registry.get_sample_value("dnslab_authoritative_geo_swaps_total") == swaps + 1
    assert addrs(h.ask("127.2.0.9")) == ["127.0.1.1"]


def test_the_fast_path_answers_as_the_request_path() -> None:
    """Every (source or ECS client, transport-independent) answer through the per-block fast
    path equals the answer planned from a full Request, for IPv4 and IPv6, ECS /0 included."""
    from authoritative.request import ClientSubnet, Request

    h = Harness(lab(**{'eu = ["127.2.0.0/16"]': 'eu = ["127.2.0.0/16", "2001:db8:2::/48"]'}))
    provider = next(iter(h.engine.state.dynamic.values()))
    cases = [
        (None, ("127.2.0.9", 1)),
        (None, ("127.0.0.1", 1)),
        (None, ("::1", 1)),
        (ClientSubnet(1, 24, 0, bytes([127, 3, 4])), ("127.0.0.1", 1)),
        (ClientSubnet(1, 0, 0, b""), ("127.1.0.1", 1)),
        (ClientSubnet(2, 56, 0, bytes.fromhex("20010db80002aa")), ("127.0.0.1", 1)),
        (ClientSubnet(2, 56, 0, bytes.fromhex("20010db80009aa")), ("127.0.0.1", 1)),
    ]
    for ecs, client in cases:
        fast = provider.fast_variant(ecs, client)  # type: ignore[attr-defined]
        slow = provider.variant(Request(None, 1, 1, "udp", client, None, ecs))
        assert fast == slow, (ecs, client)
    assert provider.fast_variant(None, ("not-an-address", 1)) is None  # type: ignore[attr-defined]


def test_a_kept_dynamic_ttl_reply_counts_down_with_the_clock() -> None:
    """Dynamic TTLs on the fast path: the reply kept for the same query bytes is served only
    while its TTL is still the TTL; a second later the same query gets the smaller one."""
    cfg = lab(**{'ttl_policy = "fixed"': 'ttl_policy = "dynamic"', "ttl_max = 30": "ttl_max = 300"})
    h = Harness(cfg)
    h.runtime.on_update("local", status("eu-west", "up"))  # could change at 1100
    assert h.ask("127.2.0.9").answer[0].ttl == 100
    assert h.ask("127.2.0.9").answer[0].ttl == 100  # the same instant: still 100
    assert len(h.engine.exact_geo["udp"]) == 1
    h.clock.advance(10.5)
    assert h.ask("127.2.0.9").answer[0].ttl == 89
    h.clock.advance(0.2)
    assert h.ask("127.2.0.9", ecs="127.2.0.0/24").answer[0].ttl == 89
    assert h.ask("127.2.0.9").answer[0].ttl == 89  # kept until 1011
    # a probe that moves only the time of the next possible change: the kept reply is old
    later = status("eu-west", "up").model_copy(update={"next_change_at": 1150.0})
    h.runtime.on_update("local", later)
    assert h.ask("127.2.0.9").answer[0].ttl == 139
