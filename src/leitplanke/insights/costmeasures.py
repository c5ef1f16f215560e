"""The scorecard's cost-efficiency KPI in the service: usage cost / request cost per app (the namespace
named like the app) over the period, read from the configured Prometheus, or from the demo's generated
series when its URL is ``demo:``. Called by ``service.insightful``; the report computes its own.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from leitplanke.insights import costs, demoseries, prometheus

_log = logging.getLogger(__name__)
MAX_POINTS = 1000  # samples per series: the step grows with the period
KPI = "cost-efficiency"


def efficiency(
    url: str,
    *,
    credentials: prometheus.Credentials,
    apps: frozenset[str],
    now: datetime,
    period: timedelta,
) -> dict[str, tuple[float, float]] | None:
    """app -> (usage cost, request cost); None when Prometheus could not answer (logged)."""
    step = max(60.0, period.total_seconds() / MAX_POINTS)
    start = now - period
    try:
        if url == demoseries.URL:
            usages, _, _ = costs.load_usage(demoseries.DemoSeries(), start=start, end=now, step_seconds=step)
        else:
            with prometheus.Prometheus(url, credentials=credentials) as client:
                usages, _, _ = costs.load_usage(client, start=start, end=now, step_seconds=step)
    except prometheus.PrometheusError as exc:
        _log.warning("cost efficiency not measured: %s", exc)
        return None
    owners = {u.namespace: u.namespace for u in usages if u.namespace in apps}
    return costs.efficiency_measures(usages, owners=owners, prices=costs.Prices(), step_seconds=step)
