"""Every finding's state at a moment, replayed from ``histories`` events: status, severity, when it was
first seen, when its current episode began and its closed episodes (appeared → fixed). Pure; called by
``insights.scorecards`` and ``insights.comparisons``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from leitplanke.insights.histories import Event

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


def replay(events: Iterable[Event], *, at: datetime) -> dict[Key, Track]:
    """The state of every finding after the events up to ``at`` (events in time order)."""
    for _, tracks in replay_through(events, moments=[at]):
        return tracks
    return {}


def replay_through(
    events: Iterable[Event], *, moments: Sequence[datetime]
) -> Iterator[tuple[datetime, dict[Key, Track]]]:
    """One pass over the events, the state at each of ``moments`` (ascending) in turn: the same dict,
    changed further after it is yielded, so a caller reads each state before asking for the next."""
    tracks: dict[Key, Track] = {}
    pending = list(moments)
    for event in events:
        while pending and event.at > pending[0]:
            yield pending.pop(0), tracks
        if not pending:
            return
        _apply(tracks, event)
    for moment in pending:
        yield moment, tracks


def _apply(tracks: dict[Key, Track], event: Event) -> None:
    key = (event.app, event.env, event.fingerprint)
    track = tracks.get(key)
    if track is None:
        tracks[key] = Track(event.app, event.policy, event.severity, event.at, event.after, event.at)
        return
    if event.after == FIXED:
        track.episodes.append((track.began, event.at))
    elif track.status == FIXED:
        track.began = event.at
    track.status = event.after
