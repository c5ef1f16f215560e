"""Every finding's state at any moment, from its timeline: the ``histories`` events of one finding in
time order, with the status and episode start after each and its closed episodes (appeared → fixed).
Timelines are built once per history (and extended by ``histories.HistoryCache``); the state at a moment
is then a binary search per finding, not a replay of every event. Pure; called by ``insights.scorecards``,
``insights.comparisons`` and ``insights.reportdata``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from leitplanke.insights.histories import Event, History

OPEN = frozenset({"new", "open", "reopened"})
WAIVED, FIXED = "waived", "fixed"
Key = tuple[str, str, str]  # (app, env, fingerprint)


@dataclass(slots=True)
class Track:
    app: str
    policy: str
    severity: str
    first_seen: datetime
    status: str
    began: datetime  # the current (or last) episode's start
    episodes: list[tuple[datetime, datetime]] = field(default_factory=list)  # closed: (began, fixed)

    @property
    def failing(self) -> bool:
        return self.status in OPEN


@dataclass(slots=True)
class Timeline:
    app: str
    policy: str
    severity: str
    first_seen: datetime
    times: list[datetime] = field(default_factory=list)  # of each event
    statuses: list[str] = field(default_factory=list)  # after each event
    began: list[datetime] = field(default_factory=list)  # the episode start after each event
    fixed: list[datetime] = field(default_factory=list)  # closed episodes, by fix time
    fix_began: list[datetime] = field(default_factory=list)

    def add(self, event: Event) -> None:
        if not self.statuses or (event.after != FIXED and self.statuses[-1] == FIXED):
            began = event.at
        else:
            began = self.began[-1]
        if event.after == FIXED and self.statuses:
            self.fixed.append(event.at)
            self.fix_began.append(self.began[-1])
        self.times.append(event.at)
        self.statuses.append(event.after)
        self.began.append(began)

    def at(self, moment: datetime) -> Track | None:
        """The finding as it was at ``moment``; None before it was first seen."""
        index = bisect_right(self.times, moment) - 1
        if index < 0:
            return None
        closed = bisect_right(self.fixed, moment) if self.fixed else 0
        episodes = list(zip(self.fix_began[:closed], self.fixed[:closed], strict=True)) if closed else []
        status, began = self.statuses[index], self.began[index]
        return Track(self.app, self.policy, self.severity, self.first_seen, status, began, episodes)

    def state_at(self, moment: datetime) -> tuple[str, datetime] | None:
        """(status, episode start) at ``moment``, without building a ``Track``; None before it was seen."""
        index = bisect_right(self.times, moment) - 1
        return None if index < 0 else (self.statuses[index], self.began[index])

    def fixes_counted(self, since: datetime, until: datetime) -> int:
        """Closed episodes fixed from ``since`` to ``until`` (both included)."""
        if not self.fixed or until < since:
            return 0
        return max(0, bisect_right(self.fixed, until) - bisect_left(self.fixed, since))

    def fixes_between(self, since: datetime, until: datetime) -> list[tuple[datetime, datetime]]:
        low, high = bisect_left(self.fixed, since), bisect_right(self.fixed, until)
        return list(zip(self.fix_began[low:high], self.fixed[low:high], strict=True))


def extend_timelines(timelines: dict[Key, Timeline], events: Iterable[Event]) -> None:
    """Add ``events`` (in time order, after those already in) to the findings' timelines."""
    for event in events:
        key = (event.app, event.env, event.fingerprint)
        timeline = timelines.get(key)
        if timeline is None:
            timeline = timelines[key] = Timeline(event.app, event.policy, event.severity, event.at)
        timeline.add(event)


def timelines_of(history: History) -> dict[Key, Timeline]:
    """The history's timelines, built on first use and kept on it."""
    if history.timelines is None:
        built: dict[Key, Timeline] = {}
        extend_timelines(built, history.events)
        history.timelines = built
    return history.timelines  # type: ignore[no-any-return]


def tracks_at(history: History, *, at: datetime, apps: frozenset[str] | None = None) -> dict[Key, Track]:
    """Every finding's state at ``at`` (of ``apps`` only, when given); kept on the history for the
    next caller asking the same (a report asks several times). Treat the answer as read-only."""
    if history.states is None:
        history.states = {}
    known = history.states.get((at, apps))
    if known is not None:
        return known  # type: ignore[no-any-return]
    tracks = {}
    for key, timeline in timelines_of(history).items():
        if apps is not None and timeline.app not in apps:
            continue
        track = timeline.at(at)
        if track is not None:
            tracks[key] = track
    history.states[(at, apps)] = tracks
    return tracks
