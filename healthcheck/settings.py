"""Check settings: the ``[checks]`` slice of lab.toml (owned by healthcheck/).

STUB written by the lead to fix the interface; the healthcheck owner extends it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CheckSettings(BaseModel):
    """How every region is probed. Defaults follow HAProxy/gdnsd (documented in docs/healthcheck.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["http", "https", "tcp"] = "http"
    path: str = "/healthz"
    expect_status: int = 200
    body_match: str | None = None
    interval: float = Field(2.0, gt=0)
    timeout: float | None = Field(None, gt=0)  # None: interval / 2 (gdnsd)
    fall: int = Field(3, ge=1)
    rise: int = Field(2, ge=1)
    jitter: float = Field(0.0, ge=0, le=0.5)  # fraction of interval
