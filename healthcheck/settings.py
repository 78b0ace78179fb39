"""Check settings: the ``[checks]`` slice of lab.toml (owned by healthcheck/).

Every field has a default documented against gdnsd, Route 53 and HAProxy in docs/healthcheck.md.
The same fields are flags of ``dnslab healthcheck`` (``--interval``, ``--fall``...).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

InitialState = Literal["unknown", "up", "down"]


class CheckSettings(BaseModel):
    """How every region is probed. Defaults follow HAProxy/gdnsd (documented in docs/healthcheck.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["http", "https", "tcp"] = "http"
    path: str = "/healthz"
    expect_status: int = Field(default=200, ge=100, le=599)
    body_match: str | None = None  # substring searched in the first 5120 bytes (Route 53)
    interval: float = Field(default=2.0, gt=0)
    timeout: float | None = Field(default=None, gt=0)  # None: interval / 2 (gdnsd)
    fall: int = Field(default=3, ge=1)
    rise: int = Field(default=2, ge=1)
    jitter: float = Field(default=0.0, ge=0, le=0.5)  # fraction of interval
    initial: InitialState = "unknown"  # unknown: the first probe result decides
    proof: bool = True  # with a lab secret: http(s) probes need the region's signed answer
    verify_tls: bool = True  # https: verify the certificate (off for self-signed lab certs)
    heartbeat: float = Field(default=1.0, gt=0)  # SSE comment line every heartbeat seconds
    history: int = Field(default=4096, ge=16)  # events kept for Last-Event-ID resume

    @model_validator(mode="after")
    def _timeout_fits_interval(self) -> CheckSettings:
        if self.timeout is not None and self.timeout > self.interval:
            raise ValueError(
                f"checks.timeout ({self.timeout}s) must not exceed checks.interval "
                f"({self.interval}s): a probe must finish before the next one starts"
            )
        return self

    @property
    def effective_timeout(self) -> float:
        return self.timeout if self.timeout is not None else self.interval / 2

    def worst_detection(self) -> float:
        """Fault → down, worst case with connection-refused failures: fall·interval(1+jitter)."""
        return self.fall * self.interval * (1 + self.jitter)
