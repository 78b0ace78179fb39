"""Prometheus' ``histogram_quantile`` on cumulative buckets (for comparisons without a server)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """``buckets``: (upper bound, cumulative count) sorted by bound, ending with +Inf; the same
    interpolation as Prometheus (linear inside the bucket the rank falls in, lower bound 0
    for the first bucket, the last finite bound for a rank in +Inf)."""
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for i, (bound, count) in enumerate(buckets):
        if count >= rank:
            if math.isinf(bound):
                return buckets[i - 1][0] if i else 0.0
            if i == 0 and bound <= 0:
                return bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return buckets[-2][0]
