"""The one shape of a dnslab Prometheus configuration (pure: no I/O).

``dnslab up --prometheus`` (``lab.prometheus.scrape_config``: loopback targets) and the container
lab (``lab.containers.prometheus_config``: container addresses) both write this document, with
the same jobs in the same order, so the dashboards and rules read the same ``job`` labels from
either.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

JOBS = ("authoritative", "healthcheck", "resolver", "regions", "drill")  # the dashboards' `job`s


def document(
    targets: Mapping[str, list[str]],
    rule_files: list[str],
    interval: str = "1s",
    scrape_timeout: str | None = None,
) -> dict[str, Any]:
    """A Prometheus configuration scraping ``targets`` (job -> HOST:PORT list; jobs from
    ``JOBS`` only, in that order; a job without targets is left out) with ``rule_files``."""
    unknown = set(targets) - set(JOBS)
    if unknown:
        raise ValueError(f"unknown Prometheus job(s) {sorted(unknown)} (known: {', '.join(JOBS)})")
    glob: dict[str, str] = {"scrape_interval": interval, "evaluation_interval": interval}
    if scrape_timeout is not None:
        glob["scrape_timeout"] = scrape_timeout
    return {
        "global": glob,
        "rule_files": list(rule_files),
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": list(targets[job])}]}
            for job in JOBS
            if targets.get(job)
        ],
    }
