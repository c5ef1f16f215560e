"""Recording deployments: one row per (app, environment, revision), from any delivery event.

Called by ``service.delivering`` (Argo CD, Flux, CI webhooks), by the demo seed and by tests. A revision
that is a change's GitOps commit moves that change applied → deployed (or failed) in the same
transaction, its commit is the deployment's commit and a revert change's deployment is a rollback. One
transaction per event, its audit records inside; the same event twice changes nothing (``next_outcome``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

from sqlalchemy.orm import Session

from leitplanke.delivery import changes, commits as commitreading, deliveryevents
from leitplanke.delivery.deliveryevents import FAILED, SUCCEEDED, DeploymentEvent
from leitplanke.governance import auditing, errors
from leitplanke.store import deliveries, repositories
from leitplanke.store.databases import Database
from leitplanke.store.deliveryrows import Deployment

# what an event does to the row of its (app, env, revision): (status stored, status of the event).
# "later" outcomes depend on the time: a succeeded event for an earlier revision that arrives after
# a later deployment went live is a rollback to it; one that is not later is a late duplicate.
RECORD, DUPLICATE, RECOVER, BACK, STALE = (
    "recorded",
    "duplicate",
    "succeeded-after-failure",
    "rolled-back-to",
    "stale",
)
TRANSITIONS: Mapping[tuple[str | None, str], str] = MappingProxyType(
    {
        (None, SUCCEEDED): RECORD,
        (None, FAILED): RECORD,
        (FAILED, FAILED): DUPLICATE,
        (FAILED, SUCCEEDED): RECOVER,
        (SUCCEEDED, SUCCEEDED): BACK,  # or DUPLICATE, see ``next_outcome``
        (SUCCEEDED, FAILED): STALE,  # a failed sync of a revision already live: it stays live
    }
)

ReadCommits = Callable[[Path | None, str, str | None], commitreading.CommitsRead]


@dataclass(frozen=True, slots=True)
class Recorded:
    outcome: str
    deployment_id: int
    app: str
    env: str
    revision: str
    status: str
    commits: int
    problem: str = ""  # why no commits were read, if none were
    change: int | None = None  # the change this event moved to deployed or failed


def next_outcome(stored: Deployment | None, status: str, *, latest: Deployment | None, at: datetime) -> str:
    outcome = TRANSITIONS[(None if stored is None else stored.status, status)]
    if outcome == BACK and stored is not None:
        is_latest = latest is not None and latest.id == stored.id
        if is_latest or latest is None or at <= latest.deployed_at:
            return DUPLICATE
    return outcome


def _default_reader(repository: Path | None, revision: str, since: str | None) -> commitreading.CommitsRead:
    return commitreading.read_commits(repository, revision=revision, since=since)


def record_deployment(
    database: Database,
    event: DeploymentEvent,
    *,
    actor: str,
    now: datetime,
    mirrors: Path | None = None,
    read_commits: ReadCommits = _default_reader,
) -> Recorded:
    """Store ``event``; its commits are the event's own or read from Git (outside the transaction, so
    that a slow ``git`` never holds the writers' lock: two deployments of one app racing each other
    may then both count commits since the same earlier revision)."""
    at = event.time or now
    read = commitreading.CommitsRead(event.commits or ())
    linked = changes.applied_commit(database, event.revision)
    if linked is not None and (linked.app, linked.env) != (event.app, event.env):
        linked = None  # another app's or environment's change: this event is not it going live
    if linked is not None:
        # the writer's commit: lead time counts from it; a revert change going live is a rollback
        rollback = event.rollback or linked.reverts is not None
        commits = event.commits or (
            deliveryevents.CommitTime(sha=linked.sha, committed_at=linked.committed_at),
        )
        event = replace(event, rollback=rollback, commits=commits)
        read = commitreading.CommitsRead(commits)
    elif event.commits is None and event.status == SUCCEEDED:
        repository, since = _history_source(database, event, at=at, mirrors=mirrors)
        read = read_commits(repository, event.revision, since)
    with database.transaction() as session:
        app, env = _scope(session, event)
        stored = deliveries.deployment_of(session, app_id=app, env_id=env, revision=event.revision)
        latest = deliveries.last_succeeded(session, app_id=app, env_id=env)
        outcome = next_outcome(stored, event.status, latest=latest, at=at)
        row = _apply(session, outcome, stored, event, app_id=app, env_id=env, at=at, now=now, latest=latest)
        if outcome in (RECORD, RECOVER) and event.status == SUCCEEDED:
            deliveries.add_commits(session, row.id, [(c.sha, c.committed_at) for c in read.commits])
            row.commits = len(read.commits)
        session.flush()
        if outcome not in (DUPLICATE, STALE):
            _audit(session, row, event, outcome=outcome, actor=actor, now=now)
        moved = None
        if linked is not None and outcome != STALE:
            succeeded = row.status == SUCCEEDED
            moved = changes.follow_deployment(
                session,
                event.revision,
                scope=(app, env),
                succeeded=succeeded,
                actor=actor,
                now=now,
                deployment_id=row.id,
            )
        return Recorded(
            outcome=outcome,
            deployment_id=row.id,
            app=event.app,
            env=event.env,
            revision=row.revision,
            status=row.status,
            commits=row.commits,
            problem=read.problem,
            change=moved,
        )


def _history_source(
    database: Database,
    event: DeploymentEvent,
    *,
    at: datetime,
    mirrors: Path | None,
) -> tuple[Path | None, str | None]:
    with database.reading() as session:
        app = repositories.app_by_name(session, event.app)
        env = repositories.environment_by_name(session, event.env)
        if app is None or env is None:
            return None, None  # refused with the field named in the transaction
        before = deliveries.last_succeeded(session, app_id=app.id, env_id=env.id, before=at)
        since = None if before is None or before.revision == event.revision else before.revision
        return commitreading.repository_path(app.repository, app=app.name, mirrors=mirrors), since


def _scope(session: Session, event: DeploymentEvent) -> tuple[int, int]:
    app = repositories.app_by_name(session, event.app)
    if app is None:
        raise errors.NotFound(f"no application {event.app!r} in the catalog", field="app")
    env = repositories.environment_by_name(session, event.env)
    if env is None:
        raise errors.NotFound(f"no environment {event.env!r} in the catalog", field="env")
    return app.id, env.id


def _apply(
    session: Session,
    outcome: str,
    stored: Deployment | None,
    event: DeploymentEvent,
    *,
    app_id: int,
    env_id: int,
    at: datetime,
    now: datetime,
    latest: Deployment | None,
) -> Deployment:
    if stored is None:
        row = Deployment(
            app_id=app_id,
            env_id=env_id,
            revision=event.revision,
            status=event.status,
            rollback=event.rollback,
            source=event.source,
            deployed_at=at,
            received_at=now,
            commits=0,
        )
        session.add(row)
        session.flush()
        if (
            event.rollback
            and event.status == SUCCEEDED
            and latest is not None
            and latest.rolled_back_at is None
        ):
            latest.rolled_back_at = at  # a revert deployed as a new revision: what was live is rolled back
        return row
    if outcome == RECOVER:
        stored.status, stored.deployed_at, stored.received_at = SUCCEEDED, at, now
    elif outcome == BACK:
        # back to an earlier revision (Argo CD's rollback): every deployment after it is rolled back
        deliveries.roll_back_after(session, app_id=app_id, env_id=env_id, after=stored.deployed_at, at=at)
    return stored


def _audit(
    session: Session, row: Deployment, event: DeploymentEvent, *, outcome: str, actor: str, now: datetime
) -> None:
    chain = auditing.Chain(session)
    details = {
        "app": event.app,
        "env": event.env,
        "revision": row.revision,
        "status": row.status,
        "source": event.source,
        "outcome": outcome,
        "deployedAt": auditing.format_time(row.deployed_at),
        "rollback": row.rollback,
        "commits": row.commits,
    }
    chain.append(
        actor=actor, action=f"deployment.{outcome}", target=f"deployment:{row.id}", at=now, details=details
    )
    chain.flush()


@dataclass(frozen=True, slots=True)
class DeploymentView:
    id: int
    app: str
    env: str
    revision: str
    status: str
    rollback: bool
    source: str
    deployed_at: datetime
    rolled_back_at: datetime | None
    commits: int


def list_deployments(
    database: Database, scope: deliveries.Scope, *, env: str | None, limit: int
) -> list[DeploymentView]:
    with database.reading() as session:
        found = deliveries.list_deployments(session, scope, env=env, limit=limit)
        return [
            DeploymentView(
                id=row.id,
                app=app,
                env=env_name,
                revision=row.revision,
                status=row.status,
                rollback=row.rollback,
                source=row.source,
                deployed_at=row.deployed_at,
                rolled_back_at=row.rolled_back_at,
                commits=row.commits,
            )
            for row, app, env_name in found
        ]
