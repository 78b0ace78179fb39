"""Chaos drills: a client population, scheduled faults, and the stale-routing window they cause.

Pure parts (no sockets, no clock reads): ``scenario`` (TOML model), ``profiles`` (client cache
policies), ``population`` (who the clients are), ``model`` (the analytic prediction),
``measure`` (observations → metrics), ``sim`` (the same logic on a virtual clock).
Shells: ``live`` (asyncio clients, fault injection, observers), ``results`` / ``report`` /
``plots`` (files), ``runner`` (one drill run per TTL against a lab started by ``lab.up``).
"""
