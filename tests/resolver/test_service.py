"""resolver/service.py wires the [resolver] knobs into the shell (no sockets opened here)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from resolver.service import build, summary
from resolver.settings import ResolverSettings
from resolver.upstream import Upstream


def test_build_maps_the_upstream_knobs() -> None:
    s = ResolverSettings(
        upstream="127.0.0.9:5399", upstream_timeout_ms=250, outbound_msg_retry=4, tcp_upstream=True
    )
    server = build(s, CollectorRegistry())
    assert server.upstream == Upstream("127.0.0.9", 5399, timeout=0.25, retries=4, tcp_only=True)
    assert server.core.settings is s


def test_summary_names_what_changes_ttls() -> None:
    line = summary(ResolverSettings(serve_expired=True, serve_expired_client_timeout=1800))
    assert "serve-expired=after 1800 ms, ttl 30" in line and "ecs=/24,/56" in line
    assert "ecs=off" in summary(ResolverSettings(send_client_subnet=False))
