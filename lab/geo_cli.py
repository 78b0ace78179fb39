"""``dnslab geo-test`` and ``dnslab explain``: why does a client get the answer it gets?"""

from __future__ import annotations

import argparse
from typing import Any

from lab.errors import ConfigError


def register(subparsers: Any) -> None:
    geo = subparsers.add_parser(
        "geo-test",
        help="show where a client address falls in the geo map (offline, like gdnsd_geoip_test)",
        description=(
            "Locate ADDR (a source address such as 127.2.0.10, or an ECS subnet such as "
            "127.2.0.0/24) in the locations of lab.toml: the location, the network that matched "
            "(longest prefix wins), the ECS scope an answer would carry, and for every service "
            "the order in which regions would be tried. Reads only the config; no server needed."
        ),
    )
    geo.add_argument("addr", metavar="ADDR", help="client address or ECS subnet (ADDR/PREFIX)")
    geo.add_argument("--config", default="lab.toml", help="lab.toml to read (default ./lab.toml)")
    geo.set_defaults(handler=run_geo_test)

    ex = subparsers.add_parser(
        "explain",
        help="explain the answer a client gets for a GeoDNS name (location, order, health, TTL)",
        description=(
            "Explain, step by step, the answer NAME gets for a client: its location and the "
            "network that matched, the candidate order, each region's state and why, the answer, "
            "its TTL and why, and the ECS scope. Offline it uses lab.toml and the startup "
            "assumption (authoritative.assume) for health, with --down/--up to try a what-if; "
            "with --admin it asks the running server (GET /v1/explain), i.e. live health."
        ),
    )
    ex.add_argument("name", metavar="NAME", help="a service name, e.g. www.lab.example.")
    ex.add_argument("--client", required=True, help="client address, or ECS subnet ADDR/PREFIX")
    ex.add_argument("--type", default="A", help="query type (default A)")
    src = ex.add_mutually_exclusive_group()
    src.add_argument("--config", default="lab.toml", help="lab.toml for an offline answer")
    src.add_argument(
        "--admin", metavar="URL", help="ask a running server, e.g. http://127.0.0.1:8053"
    )
    ex.add_argument(
        "--down", action="append", default=[], metavar="REGION", help="offline: assume REGION down"
    )
    ex.add_argument(
        "--up", action="append", default=[], metavar="REGION", help="offline: assume REGION up"
    )
    ex.add_argument("--json", action="store_true", help="print the explanation as JSON")
    ex.set_defaults(handler=run_explain)


def offline_services(cfg: Any, down: list[str], up: list[str]) -> Any:
    """Services at startup health (authoritative.assume), with what-if overrides."""
    import time
    from dataclasses import replace

    from authoritative.geo import geomap_from_config
    from authoritative.geo_runtime import rules_of
    from authoritative.health import HealthInputs, compute_view
    from authoritative.services import Services
    from lab.errors import UnknownRegionError

    now = time.time()
    inputs = HealthInputs(tuple(c.name for c in cfg.checkers), tuple(cfg.regions), now)
    for region, state in [(r, False) for r in down] + [(r, True) for r in up]:
        if region not in cfg.regions:
            known = ", ".join(cfg.regions)
            raise UnknownRegionError(f"--down/--up {region!r}: unknown region (known: {known})")
        inputs = inputs.force(region, state, now)
    view = compute_view(inputs, rules_of(cfg), now)
    regions = {
        name: replace(h, why=f"what-if: --{h.state} {name}") if h.forced else h
        for name, h in view.regions.items()
    }
    return Services(cfg, geomap_from_config(cfg), replace(view, regions=regions)), now


def run_geo_test(args: argparse.Namespace) -> int:
    from authoritative.admin import parse_client
    from authoritative.policies import candidate_order
    from lab.config import load_config

    cfg = load_config(args.config)
    client = parse_client(args.addr)
    services, _ = offline_services(cfg, [], [])
    located = services.geomap.locate(client)
    print(f"client     {client.describe()}")
    print(f"location   {located.location or '(none: default order)'}")
    print(f"matched    {located.net or '(no network)'}")
    print(f"ecs scope  /{located.scope}  (for answers that depend on the location)")
    for key, svc in cfg.services.items():
        order, where, _ = candidate_order(svc, located, services.view, services.vantages)
        print(f"service    {key} {svc.name} {svc.policy}  {where}: {' -> '.join(order)}")
    return 0


def run_explain(args: argparse.Namespace) -> int:
    import json

    from authoritative.explain import explain, render

    if args.admin:
        if args.down or args.up:
            raise ConfigError(
                "--down/--up are for offline what-ifs; with --admin use PUT /v1/health"
            )
        e = _ask_admin(args.admin, args.name, args.type, args.client)
    else:
        from authoritative.admin import parse_client, parse_qtype
        from lab.config import load_config

        cfg = load_config(args.config)
        services, now = offline_services(cfg, args.down, args.up)
        what_if = ", ".join([f"{r} down" for r in args.down] + [f"{r} up" for r in args.up])
        health = f"offline: {args.config}, assume = {cfg.authoritative.assume!r}"
        health += f"; what-if: {what_if}" if what_if else ""
        qtype = parse_qtype(args.type)
        e = explain(services, args.name, qtype, parse_client(args.client), now, health)
    print(json.dumps(e, indent=2) if args.json else render(e))
    return 0


def _ask_admin(url: str, name: str, qtype: str, client: str) -> dict[str, Any]:
    import httpx

    try:
        resp = httpx.get(
            url.rstrip("/") + "/v1/explain",
            params={"name": name, "type": qtype, "client": client},
            timeout=5.0,
        )
    except httpx.HTTPError as exc:
        raise ConfigError(f"--admin {url}: cannot reach the admin API: {exc}") from None
    try:
        body = resp.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ConfigError(
            f"--admin {url}: HTTP {resp.status_code} without a JSON explanation; "
            "is this the admin API of 'dnslab authoritative' (authoritative.admin_listen)?"
        )
    if resp.status_code != 200:
        raise ConfigError(f"--admin {url}: {body.get('detail', resp.text)}")
    return body
