"""A history kept between calls and extended by what was appended since (the audit chain and the scans
only grow), with its findings' timelines extended alike: a scorecard then costs a binary search per
finding, not a reading and replay of the year. One per service instance (``service.insightful``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import replace
from datetime import datetime
from typing import Any

from leitplanke.insights import findingstates, histories
from leitplanke.store.databases import Database


class HistoryCache:
    """Thread-safe; ``load`` answers the history up to a moment, every app's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[histories.Event] = []
        self._scans: list[histories.ScanMark] = []
        self._timelines: dict[findingstates.Key, findingstates.Timeline] = {}
        self._seq = 0
        # figures derived from the history as of one audit head (the scorecard's measures), by their key:
        # dropped whenever records are appended
        self._derived: dict[Hashable, Any] = {}
        self.computed = 0  # derived figures computed (not answered from the cache): for the tests
        self.warmed = threading.Event()  # set once a warm-up (``service.insightful.warm``) is done

    def derived(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``, once per ``key`` for as long as nothing is appended to the history."""
        with self._lock:
            if key in self._derived:
                return self._derived[key]
        value = compute()
        with self._lock:
            self._derived[key] = value
            self.computed += 1
        return value

    def load(self, database: Database, *, until: datetime) -> histories.History:
        with self._lock:
            last_scan = self._scans[-1].scan if self._scans else 0
            appended = histories.load_appended(database, after_seq=self._seq, after_scan=last_scan)
            self._events.extend(appended.events)
            self._scans.extend(appended.scans)
            if appended.events:  # a new dict: a reader in another thread may be iterating the old one
                self._timelines = dict(self._timelines)
                findingstates.extend_timelines(self._timelines, appended.events)
            if appended.head != self._seq:
                self._derived.clear()
            self._seq = appended.head
            events, scans, timelines = self._events, self._scans, self._timelines
        return replace(
            appended.catalog,
            until=until,
            events=histories.upto(events, until),
            scans=histories.upto(scans, until),
            timelines=timelines,  # searched by time: later events in them do not count
            states=None,
        )
