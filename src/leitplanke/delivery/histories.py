"""A generated delivery history whose DORA figures are known by construction: several teams, apps
with different release habits, failed syncs, duplicate notifications, incidents and rollbacks.

``build_history`` returns the events in time order (for ``deployments.record_deployment`` and
``incidents.record_incident``) and a ledger of what it made; ``History.expected`` answers, from the
ledger alone, what the figures of any scope and window must be. Used by the tests and the demo seed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leitplanke import catalog
from leitplanke.delivery import deployments, incidents
from leitplanke.delivery.deliveryevents import FAILED, SUCCEEDED, CommitTime, DeploymentEvent, IncidentEvent
from leitplanke.store.databases import Database

INCIDENT, ROLLBACK = "incident", "rollback"
REVERT_LEAD = timedelta(minutes=10)  # a revert is committed ten minutes before it goes live


@dataclass(frozen=True, slots=True, kw_only=True)
class Habit:
    """How an app releases: every ``every``, ``commits`` per deployment committed ``lead_minutes`` before
    it goes live; every ``fail_every``-th deployment fails (an incident or a rollback), recovered in
    ``recovery_minutes``."""

    app: str
    team: str
    value_stream: str
    every: timedelta
    commits: tuple[int, int]
    lead_minutes: tuple[int, int]
    fail_every: int
    failure: str  # incident | rollback
    recovery_minutes: tuple[int, int]
    flaky_sync_every: int = 0  # every n-th deployment first fails to sync, then succeeds


HABITS: tuple[Habit, ...] = (
    # many small changes a day, incidents found and fixed quickly; now and then a sync fails first
    Habit(
        app="checkout",
        team="team-shop",
        value_stream="commerce",
        every=timedelta(hours=4),
        commits=(1, 3),
        lead_minutes=(30, 300),
        fail_every=12,
        failure=INCIDENT,
        recovery_minutes=(20, 50),
        flaky_sync_every=5,
    ),
    # daily releases with batches of a few commits; a bad one is reverted
    Habit(
        app="payments",
        team="team-shop",
        value_stream="commerce",
        every=timedelta(hours=24),
        commits=(2, 5),
        lead_minutes=(240, 2400),
        fail_every=7,
        failure=ROLLBACK,
        recovery_minutes=(30, 180),
    ),
    # a weekly release train
    Habit(
        app="node-agent",
        team="team-platform",
        value_stream="observability",
        every=timedelta(days=7),
        commits=(5, 12),
        lead_minutes=(1440, 8640),
        fail_every=3,
        failure=INCIDENT,
        recovery_minutes=(120, 1200),
    ),
    # a big-bang release of a legacy batch system every 20 days
    Habit(
        app="legacy-batch",
        team="team-platform",
        value_stream="reporting",
        every=timedelta(days=20),
        commits=(20, 40),
        lead_minutes=(14400, 57600),
        fail_every=2,
        failure=INCIDENT,
        recovery_minutes=(1440, 4320),
    ),
)

# the demo catalog's apps (``leitplanke db seed-demo``): the weekly train's bad releases are reverted
DEMO_HABITS: tuple[Habit, ...] = (
    HABITS[0],
    dataclasses.replace(HABITS[2], failure=ROLLBACK, recovery_minutes=(60, 240)),
    HABITS[3],
)


@dataclass(frozen=True, slots=True)
class Made:
    """One succeeded production deployment as the generator made it."""

    app: str
    team: str
    value_stream: str
    deployed_at: datetime
    lead_seconds: tuple[float, ...]
    failed_at: datetime | None  # when the failure became known (incident opened, rollback live)
    restored_at: datetime | None
    recovery_seconds: float | None


@dataclass(frozen=True, slots=True)
class Expected:
    deployments: int
    deployments_per_day: float
    commits: int
    lead_time_seconds: float | None
    failed_deployments: int
    change_failure_rate: float | None
    recovered: int
    recovery_seconds: float | None


@dataclass
class History:
    start: datetime
    end: datetime
    env: str
    events: list[DeploymentEvent | IncidentEvent] = field(default_factory=list)
    ledger: list[Made] = field(default_factory=list)

    def expected(self, *, level: str, name: str = "", start: datetime, end: datetime) -> Expected:
        """The figures of ``level`` (app, team, value-stream, org) ``name`` over ``[start, end)``."""
        made = [m for m in self.ledger if start <= m.deployed_at < end and _in(m, level, name)]
        leads = [s for m in made for s in m.lead_seconds]
        failed = [m for m in made if m.failed_at is not None and m.failed_at < end]
        recovered = [m.recovery_seconds for m in failed if m.restored_at is not None and m.restored_at < end]
        days = (end - start).total_seconds() / 86400
        return Expected(
            deployments=len(made),
            deployments_per_day=len(made) / days,
            commits=len(leads),
            lead_time_seconds=statistics.median(leads) if leads else None,
            failed_deployments=len(failed),
            change_failure_rate=len(failed) / len(made) if made else None,
            recovered=len(recovered),
            recovery_seconds=statistics.median(r for r in recovered if r is not None) if recovered else None,
        )


def _in(made: Made, level: str, name: str) -> bool:
    return {"app": made.app, "team": made.team, "value-stream": made.value_stream, "org": ""}[level] == name


def build_history(
    *, start: datetime, days: int, seed: int = 1, env: str = "prod", habits: Sequence[Habit] = HABITS
) -> History:
    """Every habit played over ``days`` from ``start``; every failure recovers before the end."""
    rng = random.Random(seed)
    history = History(start=start, end=start + timedelta(days=days), env=env)
    timed: list[tuple[datetime, int, DeploymentEvent | IncidentEvent]] = []
    for habit in habits:
        _play(habit, history, timed, rng)
    timed.sort(key=lambda item: (item[0], item[1]))
    history.events = [event for _, _, event in timed]
    history.ledger.sort(key=lambda m: (m.deployed_at, m.app))
    return history


def _play(habit: Habit, history: History, timed: list[tuple[datetime, int, Any]], rng: random.Random) -> None:
    at = history.start + timedelta(minutes=rng.randint(30, 600))
    number = 0
    slack = timedelta(minutes=habit.recovery_minutes[1] + 60)
    while at + slack < history.end:
        number += 1
        leads = sorted(
            (rng.randint(*habit.lead_minutes) * 60 for _ in range(rng.randint(*habit.commits))), reverse=True
        )
        revision = _sha(habit.app, number)
        commits = tuple(
            CommitTime(sha=_sha(habit.app, number, index), committed_at=at - timedelta(seconds=lead))
            for index, lead in enumerate(leads)
        )
        if habit.flaky_sync_every and number % habit.flaky_sync_every == 0:
            failed_sync = DeploymentEvent(
                "argocd", habit.app, history.env, revision, FAILED, at - timedelta(minutes=5)
            )
            timed.append((failed_sync.time or at, len(timed), failed_sync))
        event = DeploymentEvent("ci", habit.app, history.env, revision, SUCCEEDED, at, commits=commits)
        timed.append((at, len(timed), event))
        if number % 4 == 0:  # a notification delivered twice counts once
            timed.append((at + timedelta(seconds=30), len(timed), event))
        made = Made(
            habit.app, habit.team, habit.value_stream, at, tuple(float(s) for s in leads), None, None, None
        )
        if number % habit.fail_every == 0:
            made = _fail(habit, history, timed, rng, made, number)
        history.ledger.extend(
            _revert_made(habit, made) if habit.failure == ROLLBACK and made.failed_at else ()
        )
        history.ledger.append(made)
        jitter = timedelta(minutes=rng.randint(-20, 20))
        at = at + habit.every + jitter


def _fail(
    habit: Habit,
    history: History,
    timed: list[tuple[datetime, int, Any]],
    rng: random.Random,
    made: Made,
    number: int,
) -> Made:
    recovery = timedelta(minutes=rng.randint(*habit.recovery_minutes))
    if habit.failure == INCIDENT:
        opened = made.deployed_at + timedelta(minutes=rng.randint(2, 15))
        key = f"gen:{habit.app}:{number}"
        title = f"{habit.app}: error rate above SLO"
        timed.append((opened, len(timed), IncidentEvent(key, habit.app, history.env, title, opened, None)))
        resolved = opened + recovery
        timed.append(
            (resolved, len(timed), IncidentEvent(key, habit.app, history.env, title, opened, resolved))
        )
        seconds = recovery.total_seconds()
        return dataclasses.replace(made, failed_at=opened, restored_at=resolved, recovery_seconds=seconds)
    back = made.deployed_at + recovery
    revert = DeploymentEvent(
        "ci",
        habit.app,
        history.env,
        _sha(habit.app, number, "revert"),
        SUCCEEDED,
        back,
        rollback=True,
        commits=(CommitTime(_sha(habit.app, number, "revert-commit"), back - REVERT_LEAD),),
    )
    timed.append((back, len(timed), revert))
    seconds = recovery.total_seconds()
    return dataclasses.replace(made, failed_at=back, restored_at=back, recovery_seconds=seconds)


def _revert_made(habit: Habit, made: Made) -> tuple[Made, ...]:
    assert made.restored_at is not None
    lead = (REVERT_LEAD.total_seconds(),)
    return (Made(habit.app, habit.team, habit.value_stream, made.restored_at, lead, None, None, None),)


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


def catalog_of(habits: Sequence[Habit] = HABITS, *, env: str = "prod") -> catalog.Catalog:
    """The teams and apps of ``habits`` and the environment they deploy to."""
    teams = sorted({habit.team for habit in habits})
    return catalog.Catalog(
        teams=[catalog.TeamSpec(name=team) for team in teams],
        apps=[catalog.AppSpec(name=h.app, owner=h.team, value_stream=h.value_stream) for h in habits],
        environments=[catalog.EnvironmentSpec(name=env, enforcement="enforce", requires_approval=True)],
    )


def replay(
    database: Database, history: History, *, actor: str = "generator", now: datetime | None = None
) -> int:
    """Record every event of ``history`` in order; audited at ``now``, else each at its own time (as
    if it had been received then). The number of events."""
    for event in history.events:
        if isinstance(event, DeploymentEvent):
            at = now or event.time or history.start
            deployments.record_deployment(database, event, actor=actor, now=at)
        else:
            at = now or event.resolved_at or event.opened_at
            incidents.record_incident(database, event, source="generator", actor=actor, now=at)
    return len(history.events)
