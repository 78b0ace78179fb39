"""The client population of a drill: who each client is, where it sits, how it caches.

Pure and deterministic for a seed: counts per location and per profile follow the weights
(largest remainder), every location gets the same profile mix, and each client gets a
source address in its location's network, a start offset and a cache pre-age (both
stratified within each location and profile group).
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Mapping
from dataclasses import dataclass

from lab.drill.profiles import Profile, parse_profile
from lab.errors import ConfigError

FIRST_HOST = 10  # client i of a location gets host number FIRST_HOST + i in its network


@dataclass(frozen=True)
class Client:
    id: int
    location: str
    addr: str
    profile: Profile
    start_offset: float  # seconds after the population starts, in [0, request_interval)
    age_fraction: float  # the first answer is pre-aged by this fraction of its cache life


def apportion(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` by ``weights`` with the largest-remainder method (sums to ``total``)."""
    wsum = sum(weights.values())
    exact = {k: total * w / wsum for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    left = total - sum(counts.values())
    by_remainder = sorted(exact, key=lambda k: (-(exact[k] - counts[k]), list(weights).index(k)))
    for k in by_remainder[:left]:
        counts[k] += 1
    return counts


def stratified(n: int, rng: random.Random) -> list[float]:
    """``n`` values in [0, 1), one in each of the ``n`` equal strata, in random order.

    A group's cache ages (and start offsets) then cover [0, 1) evenly, as in a steady state,
    so its mean stale window varies far less between seeds than with independent draws.
    """
    values = [(k + rng.random()) / n for k in range(n)]
    rng.shuffle(values)
    return values


def priming_ages(locations: list[str], ttl: int, seed: int) -> dict[str, float]:
    """How long before the population starts the lab resolver is primed for each location
    (uniform in [0, TTL], one draw per location and run), so its expiry phase is random as in
    a busy resolver. The live drill and the simulation both prime by this rule."""
    rng = random.Random(seed * 31 + ttl)
    return {loc: rng.uniform(0.0, float(ttl)) for loc in locations}


def probe_addr(network: ipaddress.IPv4Network) -> str:
    """The source address the drill's own propagation probe uses for a location."""
    return str(network[-2])


def build_population(
    total: int,
    locations: Mapping[str, float],
    profiles: Mapping[str, float],
    networks: Mapping[str, ipaddress.IPv4Network],
    request_interval: float,
    seed: int,
) -> list[Client]:
    missing = [loc for loc, w in locations.items() if w > 0 and loc not in networks]
    if missing:
        raise ConfigError(
            f"scenario locations {missing} are not in the lab config "
            f"(known: {sorted(networks)}); fix [locations] in the scenario"
        )
    rng = random.Random(seed)
    parsed = {name: parse_profile(name) for name in profiles}
    clients: list[Client] = []
    for loc, n_loc in apportion(total, locations).items():
        net = networks.get(loc)
        if n_loc == 0 or net is None:
            continue
        if n_loc + FIRST_HOST + 2 > net.num_addresses:
            raise ConfigError(f"location {loc} ({net}) has room for fewer than {n_loc} clients")
        host = FIRST_HOST
        for pname, n_prof in apportion(n_loc, profiles).items():
            offsets, ages = stratified(n_prof, rng), stratified(n_prof, rng)
            for k in range(n_prof):
                clients.append(
                    Client(
                        id=len(clients),
                        location=loc,
                        addr=str(net[host]),
                        profile=parsed[pname],
                        start_offset=offsets[k] * request_interval,
                        age_fraction=ages[k],
                    )
                )
                host += 1
    return clients
