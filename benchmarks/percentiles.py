"""Percentiles of a run's timings, the one statistic every latency figure uses.

Nearest rank, so that every figure is a latency one request really had.
"""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def ms(values: list[float], q: float) -> str:
    return f"{percentile(values, q) * 1000:.1f}"
