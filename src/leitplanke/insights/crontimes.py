"""Cron expressions of report schedules in their time zone: whether one is valid, and its firing times
before and after a moment. Pure; with ``delivery.syncwindows``, the only modules that import ``croniter``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter


def is_valid(expression: str) -> bool:
    """Five fields (minute hour day month weekday), as Kubernetes CronJobs have them."""
    return len(expression.split()) == 5 and bool(croniter.is_valid(expression))


def previous(expression: str, zone: str, at: datetime) -> datetime:
    """The latest firing at or before ``at`` (UTC), counted in the wall clock of ``zone``."""
    local = at.astimezone(ZoneInfo(zone)).replace(microsecond=0)
    if croniter.match(expression, local) and local.second == 0:
        return local.astimezone(UTC)  # croniter's get_prev is strictly before
    fired: datetime = croniter(expression, local).get_prev(datetime)
    return fired.astimezone(UTC)


def following(expression: str, zone: str, at: datetime) -> datetime:
    """The first firing strictly after ``at`` (UTC)."""
    local = at.astimezone(ZoneInfo(zone))
    fired: datetime = croniter(expression, local).get_next(datetime)
    return fired.astimezone(UTC)
