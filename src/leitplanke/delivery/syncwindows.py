"""Sync windows, as Argo CD has them: when an approved change may be applied in an environment.

A window opens at each time its cron schedule names (in its time zone) and stays open for its
duration. A deny window that is open blocks; when there are allow windows, one must be open. Pure,
``now`` injected; the only module that imports ``croniter``. Called by ``gitops`` before it applies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from croniter import croniter

from leitplanke.catalog import changecontrols
from leitplanke.catalog.changecontrols import SyncWindow

_LOOKAHEAD = 64  # window openings searched for the next time a change may go


@dataclass(frozen=True, slots=True)
class Verdict:
    open: bool
    reason: str
    next_open: datetime | None = None  # when closed: the next time it opens (within the look-ahead)


def is_active(window: SyncWindow, at: datetime) -> bool:
    """Whether ``window`` is open at ``at``: its last opening is less than its duration ago."""
    local = at.astimezone(ZoneInfo(window.time_zone))
    duration = changecontrols.parse_duration(window.duration)
    assert duration is not None  # checked when the catalog was read
    # one second later so that an opening at exactly ``at`` counts as the last one
    start: datetime = croniter(window.schedule, local.replace(microsecond=0)).get_prev(datetime)
    if _opens_at(window, local):
        start = local.replace(second=0, microsecond=0)
    return start <= local < start + duration


def _opens_at(window: SyncWindow, local: datetime) -> bool:
    return bool(croniter.match(window.schedule, local.replace(second=0, microsecond=0)))


def judge(windows: Sequence[SyncWindow], at: datetime) -> Verdict:
    """May a change be applied at ``at``? Deny windows win; with allow windows, one must be open."""
    denying = [w for w in windows if w.kind == "deny" and is_active(w, at)]
    allows = [w for w in windows if w.kind == "allow"]
    if denying:
        reason = f"deny window '{denying[0].schedule}' ({denying[0].time_zone}) is open"
    elif allows and not any(is_active(w, at) for w in allows):
        reason = "no allow window is open"
    else:
        return Verdict(True, "inside the sync windows" if windows else "no sync windows")
    return Verdict(False, reason, next_open=_next_open(windows, at))


def _next_open(windows: Sequence[SyncWindow], at: datetime) -> datetime | None:
    """The earliest opening or deny-window end after ``at`` at which a change may go."""
    candidates: set[datetime] = set()
    for window in windows:
        duration = changecontrols.parse_duration(window.duration)
        assert duration is not None
        local = at.astimezone(ZoneInfo(window.time_zone))
        it = croniter(window.schedule, local)
        start = it.get_prev(datetime)
        for _ in range(_LOOKAHEAD):
            point = start if window.kind == "allow" else start + duration
            if point > local:
                candidates.add(point.astimezone(UTC))
            start = it.get_next(datetime)
    for candidate in sorted(candidates):
        if judge_open(windows, candidate):
            return candidate
    return None


def judge_open(windows: Sequence[SyncWindow], at: datetime) -> bool:
    denied = any(w.kind == "deny" and is_active(w, at) for w in windows)
    allows = [w for w in windows if w.kind == "allow"]
    return not denied and (not allows or any(is_active(w, at) for w in allows))
