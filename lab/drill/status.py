"""The live status line of ``dnslab up``: what the checker, the authoritative server and the
resolver say right now (one blocking look at each; nothing here keeps state)."""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import time
import urllib.request

from lab.config import LabConfig
from lab.drill.netclient import decode_answer, encode_query
from lab.drill.observe import fetch_states
from lab.drill.population import probe_addr
from lab.up import Lab


def ask(server: tuple[str, int], source: str, timeout: float = 0.3) -> tuple[str, ...]:
    """The A records of www.lab.example from ``server``, asked from ``source``; () on failure."""
    qid = random.randrange(1, 65536)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.bind((source, 0))
            s.sendto(encode_query("www.lab.example.", qid), server)
            data, _ = s.recvfrom(4096)
        except OSError:
            return ()
    return decode_answer(data, qid).addrs


def answers(cfg: LabConfig) -> str:
    """location→region the authoritative server answers right now, e.g. ``eu→us-east``."""
    host, _, port = cfg.authoritative.listen.rpartition(":")
    region_of = {a: name for name, r in cfg.regions.items() for a in r.v4}
    parts = []
    for loc, location in cfg.locations.items():
        nets = [n for n in location.nets if ":" not in n]
        if not nets:
            continue
        addrs = ask((host, int(port)), probe_addr(ipaddress.IPv4Network(nets[0])))
        shown = region_of.get(addrs[0], addrs[0]) if addrs else "?"
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


def status_line(cfg: LabConfig, lab: Lab) -> str:
    """One compact line: region states per checker, resolver hit ratio, dead children."""
    parts = []
    for chk in cfg.checkers:
        states = fetch_states(f"http://{chk.listen}/v1/status")
        shown = (
            " ".join(f"{r}={states.get(r, '?')}" for r in cfg.regions) if states else "no answer"
        )
        parts.append(f"[{chk.name}] {shown}")
    parts.append(answers(cfg))
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
