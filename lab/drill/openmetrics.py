"""A drill's series as OpenMetrics text with timestamps, for Prometheus backfill.

``OpenMetricsRecorder`` is an event sink: it feeds the same ``DrillMetrics`` the live
``/metrics`` endpoint serves and samples its registry every ``step`` seconds of the run's own
clock (virtual for ``--sim``/sweeps), as a scraper would. ``write`` lays the runs end to end,
ending at ``end_unix`` (default: now), and writes a file for::

    promtool tsdb create-blocks-from openmetrics FILE DATA_DIR

so a simulated sweep is looked at in the same dashboards as a live drill. After each run the
final values are sampled for ``tail`` more seconds, so range functions (``rate``,
``increase``) over the end of a run still have two points.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from lab.drill import events as ev
from lab.drill.metrics import DrillMetrics

Key = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _value(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v))


@dataclass
class _Family:
    name: str
    type: str
    help: str
    # series (labels without le) -> [(t, lines without timestamp)]
    series: dict[Key, list[tuple[float, list[str]]]] = field(default_factory=dict)


@dataclass
class OpenMetricsRecorder:
    regions: Iterable[str] = ()
    step: float = 1.0
    tail: float = 30.0
    gap: float = 10.0  # seconds between consecutive runs on the written time line
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    families: dict[str, _Family] = field(default_factory=dict)
    offset: float = 0.0  # where the current run starts on the written time line
    span: float = 0.0  # the time line's length so far
    next_t: float = 0.0  # next sample time (run clock)

    def __post_init__(self) -> None:
        self.metrics = DrillMetrics(self.registry, self.regions)

    def publish(self, event: ev.DrillEvent) -> None:
        at = getattr(event, "at", None)
        if isinstance(event, ev.RunStarted):
            self.offset = self.span + (self.gap if self.span else 0.0)
            self.next_t = event.at
        elif at is not None:
            self._sample_until(at)
        self.metrics.publish(event)
        if isinstance(event, ev.RunFinished):
            end = event.at + self.tail
            self._sample_until(end + self.step / 2)
            self.span = self.offset + end

    def _sample_until(self, t: float) -> None:
        while self.next_t <= t:
            self._sample(self.offset + self.next_t)
            self.next_t += self.step

    def _sample(self, t: float) -> None:
        for metric in self.registry.collect():
            fam = self.families.get(metric.name)
            if fam is None:
                fam = self.families[metric.name] = _Family(
                    metric.name, metric.type, metric.documentation
                )
            grouped: dict[Key, list[str]] = {}
            for s in metric.samples:
                if s.name.endswith("_created"):
                    continue
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                grouped.setdefault(key, []).append(f"{s.name}{_labels(s.labels)} {_value(s.value)}")
            for key, lines in grouped.items():
                fam.series.setdefault(key, []).append((t, lines))

    def text(self, end_unix: float | None = None) -> str:
        """The OpenMetrics exposition, the last sample at ``end_unix`` (default: now)."""
        base = (time.time() if end_unix is None else end_unix) - self.span
        out: list[str] = []
        for fam in self.families.values():
            out.append(f"# TYPE {fam.name} {fam.type}")
            out.append(f"# HELP {fam.name} {_escape(fam.help)}")
            for points in fam.series.values():
                for t, lines in points:
                    stamp = f"{base + t:.3f}"
                    out.extend(f"{line} {stamp}" for line in lines)
        out.append("# EOF")
        return "\n".join(out) + "\n"

    def write(self, path: Path, end_unix: float | None = None) -> int:
        """Write the file; returns the number of sample lines."""
        body = self.text(end_unix)
        path.write_text(body)
        return sum(1 for line in body.splitlines() if not line.startswith("#"))


def record_sweep(
    cells: Iterable[Any], base: Any, horizon: float | None, config: Path, path: Path
) -> int:
    """``dnslab sweep --openmetrics``: replicate 0 of every cell once more, in this process,
    through an ``OpenMetricsRecorder`` (the sweep's workers keep no events). Each cell is its
    own ``scenario`` label (``NAME cell N``), so cells with the same TTL stay apart."""
    from lab.config import load_config
    from lab.drill import model
    from lab.drill.sim import simulate_cell
    from lab.sim.run import RunSpec

    recorder = OpenMetricsRecorder(list(load_config(config).regions))
    for cell in cells:
        sc = cell.scenario(base)
        sc = sc.model_copy(update={"name": f"{base.name} cell {cell.index}"})
        spec = RunSpec(
            cell.ttl, cell.ttl_policy, cell.resolvers, horizon, model.PROPAGATION_GUESS_S, 0
        )
        simulate_cell(sc, spec, config, observations=True, sinks=(recorder,))
    return recorder.write(path)
