"""Policies: candidate order per client, first healthy wins, all-down behaviours, dependence."""

from __future__ import annotations

from collections import Counter
from typing import Any

from authoritative.geo import Client, GeoMap, Located
from authoritative.health import HealthInputs, HealthRules, HealthView, Observation, compute_view
from authoritative.policies import rendezvous_order, select
from lab.config import Service

REGIONS = ("us-east", "eu-west", "ap-south")
GEO = GeoMap({"na": ("127.1.0.0/16",), "eu": ("127.2.0.0/16",), "ap": ("127.3.0.0/16",)})
ORDER = {
    "na": ("us-east", "eu-west", "ap-south"),
    "eu": ("eu-west", "us-east", "ap-south"),
    "ap": ("ap-south", "eu-west", "us-east"),
}


def health(
    down: tuple[str, ...] = (), rtts: dict[tuple[str, str], float] | None = None
) -> HealthView:
    i = HealthInputs(checkers=("na-1", "eu-1"), regions=REGIONS, started=0.0)
    for r in REGIONS:
        for c in ("na-1", "eu-1"):
            rtt = (rtts or {}).get((c, r))
            i = i.report(c, r, Observation(r not in down, 0.0, 0.0, rtt=rtt))
    return compute_view(i, HealthRules(quorum="all"), now=1.0)


def at(addr: str) -> Located:
    return GEO.locate(Client.from_source(addr))


def svc(**kw: Any) -> Service:
    return Service(name="www.lab.example.", **kw)


def test_geo_failover_each_location_gets_its_region() -> None:
    s = svc(order=ORDER)
    assert select(s, at("127.1.0.5"), health()).chosen == ("us-east",)
    assert select(s, at("127.2.0.5"), health()).chosen == ("eu-west",)
    sel = select(s, at("127.3.0.5"), health())
    assert sel.chosen == ("ap-south",) and sel.order_from == "order.ap"
    assert sel.deciding == ("ap-south",) and sel.depends == "location"


def test_geo_failover_moves_only_the_dead_regions_clients() -> None:
    s = svc(order=ORDER)
    h = health(down=("eu-west",))
    assert select(s, at("127.1.0.5"), h).chosen == ("us-east",)
    sel = select(s, at("127.2.0.5"), h)
    assert sel.chosen == ("us-east",) and sel.deciding == ("eu-west", "us-east")
    assert [st.verdict for st in sel.steps] == ["skipped: down", "chosen", "not reached"]
    assert select(s, at("127.3.0.5"), h).chosen == ("ap-south",)


def test_unmatched_clients_use_default_then_first_listed_order() -> None:
    assert select(svc(order=ORDER), at("127.0.0.1"), health()).order_from == "order.na"
    with_default = {**ORDER, "default": ("ap-south", "us-east")}
    sel = select(svc(order=with_default), at("127.0.0.1"), health())
    assert sel.chosen == ("ap-south",) and sel.order_from == "order.default"


def test_all_down_behaviours() -> None:
    h = health(down=REGIONS)
    loc = at("127.2.0.1")
    open_ = select(svc(order=ORDER), loc, h)
    assert open_.chosen == ("eu-west",) and open_.all_down and open_.outcome == "answer"
    assert open_.deciding == ORDER["eu"]
    mv = svc(policy="multivalue", regions=REGIONS, max_answers=2)
    assert select(mv, loc, h).chosen == ("us-east", "eu-west")  # fail-open: as if all were up
    first = mv.model_copy(update={"all_down": "first"})
    assert select(first, loc, h).chosen == ("us-east",)
    sf = select(svc(order=ORDER, all_down="servfail"), loc, h)
    assert (sf.outcome, sf.chosen, sf.depends) == ("servfail", (), "none")
    nd = select(svc(order=ORDER, all_down="nodata"), loc, h)
    assert (nd.outcome, nd.chosen) == ("nodata", ())


def test_failover_primary_then_secondary_does_not_depend_on_client() -> None:
    s = svc(policy="failover", regions=("us-east", "eu-west"))
    assert select(s, at("127.3.0.1"), health()).chosen == ("us-east",)
    sel = select(s, at("127.3.0.1"), health(down=("us-east",)))
    assert sel.chosen == ("eu-west",) and sel.depends == "none"


def test_multivalue_all_healthy_up_to_n_in_stable_order() -> None:
    s = svc(policy="multivalue", regions=REGIONS, max_answers=2)
    assert select(s, at("127.1.0.1"), health()).chosen == ("us-east", "eu-west")
    sel = select(s, at("127.1.0.1"), health(down=("us-east",)))
    assert sel.chosen == ("eu-west", "ap-south") and sel.deciding == REGIONS


def test_weighted_is_stable_per_subnet_and_follows_weights() -> None:
    s = svc(policy="weighted", weights={"us-east": 3, "eu-west": 1, "ap-south": 0})
    a = select(s, at("127.1.7.1"), health())
    assert a.chosen == select(s, at("127.1.7.200"), health()).chosen  # same /24
    assert a.depends == "subnet" and "127.1.7.0/24" in a.order_from
    picks = Counter(
        select(s, at(f"127.{i // 256}.{i % 256}.1"), health()).chosen[0] for i in range(4000)
    )
    assert set(picks) == {"us-east", "eu-west"}  # weight 0 never picked while others are up
    assert 0.70 < picks["us-east"] / 4000 < 0.80  # 3:1


def test_weighted_only_the_dead_regions_subnets_move() -> None:
    w = {"us-east": 1, "eu-west": 1, "ap-south": 1}
    keys = [bytes([i % 256, i // 256]) for i in range(3000)]
    before = [rendezvous_order(k, w)[0] for k in keys]
    after = [rendezvous_order(k, {"us-east": 1, "ap-south": 1})[0] for k in keys]
    moved = [b for b, a in zip(before, after, strict=True) if a != b]
    assert moved and set(moved) == {"eu-west"}


def test_latency_uses_rtts_from_the_clients_location() -> None:
    rtts = {
        ("na-1", "us-east"): 0.005, ("na-1", "eu-west"): 0.080, ("na-1", "ap-south"): 0.200,
        ("eu-1", "us-east"): 0.090, ("eu-1", "eu-west"): 0.004, ("eu-1", "ap-south"): 0.150,
    }  # fmt: skip
    vantages = {"na-1": "na", "eu-1": "eu"}
    s = svc(policy="latency", regions=REGIONS)
    h = health(rtts=rtts)
    assert select(s, at("127.1.0.1"), h, vantages).chosen == ("us-east",)
    sel = select(s, at("127.2.0.1"), h, vantages)
    assert sel.chosen == ("eu-west",) and sel.order == ("eu-west", "us-east", "ap-south")
    assert sel.depends == "location"
    # no checker in ap: RTTs from every checker (best seen), answer the same for everyone
    ap = select(s, at("127.3.0.1"), h, vantages)
    assert ap.depends == "none" and ap.chosen == ("eu-west",)
    down = select(s, at("127.2.0.1"), health(down=("eu-west",), rtts=rtts), vantages)
    assert down.chosen == ("us-east",)


def test_weighted_weight_0_is_a_backup_when_every_weighted_region_is_down() -> None:
    s = svc(policy="weighted", weights={"us-east": 1, "eu-west": 1, "ap-south": 0})
    sel = select(s, at("127.2.0.1"), health(down=("us-east", "eu-west")))
    assert sel.chosen == ("ap-south",) and not sel.all_down
    assert "weight 0" in sel.why and sel.steps[-1].verdict == "chosen"
    # the backup down too: all_down decides (fail-open answers a weighted region)
    sel = select(s, at("127.2.0.1"), health(down=REGIONS))
    assert sel.all_down and sel.chosen[0] in ("us-east", "eu-west")
