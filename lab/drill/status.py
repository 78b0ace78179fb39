"""The live status line of ``dnslab up``: what the checker, the authoritative server and the
resolver say right now (one blocking look at each; nothing here keeps state)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
import urllib.request

from lab.config import LabConfig
from lab.drill.netclient import DnsAnswer, QueryCount, query
from lab.drill.observe import fetch_states
from lab.drill.population import probe_addr
from lab.up import Lab

ASK_TIMEOUT_S = 0.3  # the status line waits this long for an answer (then shows "?")


def answers(cfg: LabConfig, probes: QueryCount | None = None) -> str:
    """location→region the authoritative server answers right now, e.g. ``eu→us-east``,
    asked from each location's probe address at once (the queries go into ``probes``)."""
    host, _, port = cfg.authoritative.listen.rpartition(":")
    server = (host, int(port))
    region_of = {a: name for name, r in cfg.regions.items() for a in r.v4}
    sources = {
        loc: probe_addr(ipaddress.IPv4Network(nets[0]))
        for loc, location in cfg.locations.items()
        if (nets := [n for n in location.nets if ":" not in n])
    }

    async def ask_all() -> list[DnsAnswer]:
        return await asyncio.gather(
            *(query(server, src, ASK_TIMEOUT_S, count=probes) for src in sources.values())
        )

    parts = []
    for loc, ans in zip(sources, asyncio.run(ask_all()), strict=True):
        shown = region_of.get(ans.addrs[0], ans.addrs[0]) if ans.addrs else "?"
        parts.append(f"{loc}→{shown}")
    return "answers " + " ".join(parts)


def scrape_counters(url: str, names: tuple[str, ...], timeout: float = 0.5) -> dict[str, float]:
    """Sum of each named counter (over its labels) from a Prometheus text page; {} on error."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            text = resp.read().decode(errors="replace")
    except OSError:
        return {}
    out = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        base = metric.split("{", 1)[0]
        if base in out:
            with contextlib.suppress(ValueError):
                out[base] += float(value)
    return out


def status_line(cfg: LabConfig, lab: Lab, probes: QueryCount | None = None) -> str:
    """One compact line: region states per checker, the answers (their queries go into
    ``probes``), resolver hit ratio, dead children."""
    parts = []
    for chk in cfg.checkers:
        states = fetch_states(f"http://{chk.listen}/v1/status")
        shown = (
            " ".join(f"{r}={states.get(r, '?')}" for r in cfg.regions) if states else "no answer"
        )
        parts.append(f"[{chk.name}] {shown}")
    parts.append(answers(cfg, probes))
    m = scrape_counters(
        f"http://{cfg.resolver.metrics_listen}/metrics",
        ("dnslab_resolver_cache_hits_total", "dnslab_resolver_cache_misses_total"),
    )
    if m:
        hits, misses = (
            m["dnslab_resolver_cache_hits_total"],
            m["dnslab_resolver_cache_misses_total"],
        )
        ratio = f"{100 * hits / (hits + misses):.0f}%" if hits + misses else "-"
        parts.append(f"resolver hits {ratio} of {hits + misses:.0f}")
    dead = [name for name, child in lab.children.items() if not child.alive()]
    if dead:
        parts.append("EXITED: " + ", ".join(dead))
    return time.strftime("%H:%M:%S ") + "  ".join(parts)
