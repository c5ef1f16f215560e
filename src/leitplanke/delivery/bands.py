"""DORA performance bands (elite, high, medium, low) for each of the four figures, one at a time.

Called by ``dorametrics`` for every figure it computes. The thresholds are those of the software
delivery performance clusters of DORA's *Accelerate State of DevOps Report 2024* (dora.dev/research):

=========  ====================================  ================  ===========  ======================
cluster    deployment frequency                  change lead time  change fail  failed deployment
                                                                   rate         recovery time
=========  ====================================  ================  ===========  ======================
elite      on demand (several deploys per day)   < 1 day           5%           < 1 hour
high       between once per day and once a week  1 day – 1 week    20%          < 1 day
medium     between once a week and once a month  1 week – 1 month  10%          < 1 day
low        once a month to once in six months    1 – 6 months      40%          1 week – 1 month
=========  ====================================  ================  ===========  ======================

The clusters are found jointly over all four figures, so one figure alone does not always order
them: the medium cluster's change fail rate (10%) is below the high one's (20%), and both have
recovery under a day. Banding one figure, we keep the order elite > high > medium > low and take
the report's values as upper bounds in that order: change fail rate 5% / 10% / 20% (the high and
medium values sorted), recovery 1 hour / 1 day / 1 week (the 2023 report's medium bound, 1 day –
1 week, separates medium from high).
"""

from __future__ import annotations

ELITE, HIGH, MEDIUM, LOW = "elite", "high", "medium", "low"
ORDER = (ELITE, HIGH, MEDIUM, LOW)
HOUR, DAY = 3600.0, 86400.0
WEEK, MONTH = 7 * DAY, 30 * DAY


def deployment_frequency(per_day: float) -> str:
    if per_day >= 1.0:
        return ELITE
    if per_day >= 1 / 7:
        return HIGH
    if per_day >= 1 / 30:
        return MEDIUM
    return LOW


def lead_time(seconds: float | None) -> str | None:
    return _upper_bounds(seconds, (DAY, WEEK, MONTH))


def change_failure_rate(rate: float | None) -> str | None:
    return _upper_bounds(rate, (0.05, 0.10, 0.20), inclusive=True)


def recovery_time(seconds: float | None) -> str | None:
    return _upper_bounds(seconds, (HOUR, DAY, WEEK))


def _upper_bounds(
    value: float | None, bounds: tuple[float, float, float], *, inclusive: bool = False
) -> str | None:
    if value is None:
        return None
    for band, bound in zip(ORDER, bounds, strict=False):
        if value < bound or (inclusive and value <= bound):
            return band
    return LOW
