"""Robust trends: the Theil–Sen slope (the median of pairwise slopes) over a series cut into
segments, with Sen's confidence interval from Kendall's statistic. Pure; called by ``insights.leaks``.

Pairs are taken only within a segment, so a restart's drop is never read as a trend: a sawtooth of
growing segments has the slope of its teeth, not the near-zero slope of a line through all of them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Point = tuple[float, float]  # (unix seconds, value)
MAX_POINTS_PER_SEGMENT = 240  # evenly thinned beyond this: the pairs grow with the square
Z_95 = 1.959964  # two-sided 95 %


@dataclass(frozen=True, slots=True)
class Fit:
    """Slope per second with its 95 % interval; ``level`` is the fitted value at ``at`` (the last
    segment's end); ``pairs`` the pairwise slopes the median was taken over."""

    slope: float
    low: float
    high: float
    level: float
    at: float
    pairs: int

    @property
    def significant_growth(self) -> bool:
        return self.low > 0


def thin(points: Sequence[Point], *, limit: int = MAX_POINTS_PER_SEGMENT) -> list[Point]:
    """At most ``limit`` points, evenly spaced by index, the first and the last kept."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def theil_sen(segments: Sequence[Sequence[Point]]) -> Fit | None:
    """The pooled within-segment Theil–Sen fit, or None with fewer than two pairs of distinct times."""
    slopes: list[float] = []
    variance = 0.0
    kept = [thin(segment) for segment in segments]
    for segment in kept:
        n = len(segment)
        variance += n * (n - 1) * (2 * n + 5) / 18
        for i in range(n):
            t_i, y_i = segment[i]
            for j in range(i + 1, n):
                t_j, y_j = segment[j]
                if t_j != t_i:
                    slopes.append((y_j - y_i) / (t_j - t_i))
    if len(slopes) < 2:
        return None
    slopes.sort()
    total = len(slopes)
    slope = _median(slopes)
    spread = Z_95 * math.sqrt(variance)
    lower_rank = max(0, min(total - 1, math.floor((total - spread) / 2) - 1))
    upper_rank = max(0, min(total - 1, math.ceil((total + spread) / 2)))
    last = next(segment for segment in reversed(kept) if segment)
    intercept = _median([y - slope * t for t, y in last])
    at = last[-1][0]
    return Fit(
        slope=slope,
        low=slopes[lower_rank],
        high=slopes[upper_rank],
        level=intercept + slope * at,
        at=at,
        pairs=total,
    )


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2
