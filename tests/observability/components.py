"""Every component's metric families, from the registries the components themselves build."""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric

COMPONENTS = ("authoritative", "resolver", "region", "healthcheck", "drill")


def registries() -> dict[str, CollectorRegistry]:
    from authoritative.geo_runtime import _Metrics as GeoMetrics
    from authoritative.metrics import Metrics
    from healthcheck.checker import CheckerMetrics
    from lab.drill.metrics import DrillMetrics
    from regions.app import RegionRuntime
    from resolver.metrics import ResolverMetrics

    out = {name: CollectorRegistry() for name in COMPONENTS}
    Metrics(out["authoritative"])
    GeoMetrics.create(out["authoritative"])
    ResolverMetrics(out["resolver"], lambda: 0)
    RegionRuntime("eu-west", out["region"])
    CheckerMetrics.create(out["healthcheck"])
    DrillMetrics(out["drill"], ["eu-west"])
    return out


def families() -> dict[str, tuple[str, Metric]]:
    """Family name -> (component, family)."""
    out: dict[str, tuple[str, Metric]] = {}
    for comp, reg in registries().items():
        for m in reg.collect():
            out[m.name] = (comp, m)
    return out


def exposed_names() -> dict[str, str]:
    """Every series name a scrape can carry (``_total``, ``_bucket``, ...) -> its family type."""
    out: dict[str, str] = {}
    for _comp, fam in families().values():
        for suffix in {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                       "gauge": ("",)}.get(fam.type, ("",)):  # fmt: skip
            out[fam.name + suffix] = fam.type
    return out
