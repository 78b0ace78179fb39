"""Resolver settings: the ``[resolver]`` slice of lab.toml (owned by resolver/).

Field names are Unbound's option names with ``-`` → ``_``; lab.toml accepts either spelling.
STUB written by the lead to fix the interface; the resolver owner extends it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ResolverSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    listen: str = "127.0.0.1:5301"
    upstream: str = "127.0.0.1:5300"
    metrics_listen: str = "127.0.0.1:9301"
