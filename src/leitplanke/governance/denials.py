"""Refused requests in the audit log without amplification: one record per caller, action and target
per minute, and the count of the rest.

The first denial of a (subject, action, target) in a minute is audited at once; later ones in the
same minute are only counted in memory and written as ONE record (``details.count``, window start and
end) when the window closes: at the next such denial after it, in the service's periodic flush, or at
shutdown. One ``DenialLog`` per application instance (``create_app``), shared by its request threads;
``authorising.enforce`` feeds it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from leitplanke.governance import auditing
from leitplanke.store.databases import Database

ACTION = "access.denied"
WINDOW = timedelta(minutes=1)
# open windows kept in memory at most; past that, denials are audited one by one (bounded memory
# against a caller who varies the target)
MAX_OPEN = 10_000


@dataclass(frozen=True, slots=True)
class Denial:
    subject: str
    actor: str
    action: str  # what was wanted, e.g. ``findings.read``
    target: str
    details: Mapping[str, Any]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.subject, self.action, self.target)


@dataclass(slots=True)
class _Window:
    start: datetime
    end: datetime
    first: Denial
    unwritten: int = 0  # denials after the first, counted but not yet audited
    last: datetime | None = None


@dataclass
class DenialLog:
    window: timedelta = WINDOW
    max_open: int = MAX_OPEN
    _open: dict[tuple[str, str, str], _Window] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def deny(self, database: Database, denial: Denial, *, now: datetime) -> None:
        """Audit ``denial`` now if it is the first of its window, else count it."""
        with self._lock:
            closed = self._close_if_due(denial.key, now=now)
            current = self._open.get(denial.key)
            if current is not None:
                current.unwritten += 1
                current.last = now
            elif len(self._open) < self.max_open:
                start = _window_start(now, self.window)
                self._open[denial.key] = _Window(start=start, end=start + self.window, first=denial)
        if closed is not None:
            _write_summary(database, closed, now=now)
        if current is None:
            _write(database, denial, now=now, details={"count": 1})

    def flush(self, database: Database, *, now: datetime, everything: bool = False) -> int:
        """Write the counts of the windows that have closed (all of them with ``everything``, at
        shutdown); the number of records written."""
        with self._lock:
            due = [key for key, w in self._open.items() if everything or now >= w.end]
            closed = [self._open.pop(key) for key in due]
        written = [w for w in closed if w.unwritten]
        for window in written:
            _write_summary(database, window, now=now)
        return len(written)

    def pending(self) -> int:
        """Denials counted but not yet audited."""
        with self._lock:
            return sum(w.unwritten for w in self._open.values())

    def _close_if_due(self, key: tuple[str, str, str], *, now: datetime) -> _Window | None:
        current = self._open.get(key)
        if current is None or now < current.end:
            return None
        del self._open[key]
        return current if current.unwritten else None


def _window_start(now: datetime, window: timedelta) -> datetime:
    """The start of the fixed window (of the epoch's minutes, for one minute) that holds ``now``."""
    seconds = window.total_seconds()
    epoch = now.astimezone(UTC).timestamp()
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def _write_summary(database: Database, window: _Window, *, now: datetime) -> None:
    last = window.last or window.start
    details = {
        "count": window.unwritten,
        "windowStart": auditing.format_time(window.start),
        "windowEnd": auditing.format_time(window.end),
        "last": auditing.format_time(last),
    }
    _write(database, window.first, now=now, details=details)


def _write(database: Database, denial: Denial, *, now: datetime, details: Mapping[str, Any]) -> None:
    auditing.record(
        database,
        actor=denial.actor,
        action=ACTION,
        target=denial.target,
        now=now,
        details={**denial.details, **details},
    )
