"""Alerts on trends, through the configured alert targets (the outbox and its dispatcher): a policy
failing again after a fix in several apps, and a KPI of the scorecard that misses its target. Keys
repeat within a day, so a sweep run more often queues each alert once. Called by the CLI and the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from leitplanke.alerts.messages import Alert
from leitplanke.governance import alerting
from leitplanke.insights import trends
from leitplanke.store.databases import Database

RECURRING, KPI_MISSED = "LeitplankeRecurringViolation", "LeitplankeKpiMissed"
MIN_APPS = 2  # a recurrence across at least this many apps is a trend worth an alert


def recurring_alerts(
    found: trends.Trends, *, outbox: alerting.Outbox, now: datetime, min_apps: int = MIN_APPS
) -> list[Alert]:
    day = now.date().isoformat()
    return [
        Alert(
            key=f"recurring:{r.policy}:{day}",
            name=RECURRING,
            severity="warning",
            summary=f"{r.policy} failed again after a fix in {len(r.apps)} apps: {', '.join(r.apps)}",
            starts_at=now,
            labels={"policy": r.policy, "apps": str(len(r.apps))},
            annotations={"reopenings": str(r.reopenings)},
            generator_url=outbox.link("insights/trends"),
        )
        for r in found.recurring
        if len(r.apps) >= min_apps
    ]


def kpi_alerts(card: Mapping[str, Any], *, outbox: alerting.Outbox, now: datetime) -> list[Alert]:
    """One alert per KPI of a scorecard (``Scorecard.as_dict``) that misses its target."""
    day, scope = now.date().isoformat(), str(card["scope"])
    return [
        Alert(
            key=f"kpi:{scope}:{line['kpi']}:{day}",
            name=KPI_MISSED,
            severity="warning",
            summary=f"{line['title']}: {line['value']}, target {line['op']} {line['target']} ({scope})",
            starts_at=now,
            labels={"kpi": str(line["kpi"]), "scope": scope},
            annotations={"missing": ", ".join(line["missing"])[:1000], "trend": str(line["trend"])},
            generator_url=outbox.link("insights/scorecard", scope=scope),
        )
        for line in card["kpis"]
        if line["met"] is False
    ]


def queue_alerts(
    database: Database, outbox: alerting.Outbox, alerts: Sequence[Alert], *, now: datetime
) -> int:
    """Queue every alert for every target, in one transaction; the rows newly queued."""
    with database.transaction() as session:
        return alerting.queue(session, outbox, alerts, now=now)
