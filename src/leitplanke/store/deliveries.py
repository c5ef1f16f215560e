"""Queries over the delivery tables (``deliveryrows``): the repository of ``leitplanke.delivery``.

Functions take the caller's session and never commit; the use cases in ``delivery`` own the
transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVarTuple

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from leitplanke.store.deliveryrows import Deployment, DeploymentCommit, Incident
from leitplanke.store.rows import App, Environment, Team

SUCCEEDED = "succeeded"
_Columns = TypeVarTuple("_Columns")


def deployment_of(session: Session, *, app_id: int, env_id: int, revision: str) -> Deployment | None:
    query = select(Deployment).where(
        Deployment.app_id == app_id, Deployment.env_id == env_id, Deployment.revision == revision
    )
    return session.scalars(query).one_or_none()


def last_succeeded(
    session: Session, *, app_id: int, env_id: int, before: datetime | None = None
) -> Deployment | None:
    """The succeeded deployment live last (before ``before`` when given)."""
    query = select(Deployment).where(
        Deployment.app_id == app_id, Deployment.env_id == env_id, Deployment.status == SUCCEEDED
    )
    if before is not None:
        query = query.where(Deployment.deployed_at <= before)
    query = query.order_by(Deployment.deployed_at.desc(), Deployment.id.desc()).limit(1)
    return session.scalars(query).first()


def roll_back_after(session: Session, *, app_id: int, env_id: int, after: datetime, at: datetime) -> int:
    """Mark the succeeded deployments live after ``after`` (and not yet rolled back) rolled back at ``at``."""
    result = session.execute(
        update(Deployment)
        .where(
            Deployment.app_id == app_id,
            Deployment.env_id == env_id,
            Deployment.status == SUCCEEDED,
            Deployment.deployed_at > after,
            Deployment.rolled_back_at.is_(None),
        )
        .values(rolled_back_at=at)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def add_commits(session: Session, deployment_id: int, commits: Sequence[tuple[str, datetime]]) -> None:
    session.add_all(
        DeploymentCommit(deployment_id=deployment_id, sha=sha, committed_at=at) for sha, at in commits
    )


def incident_by_key(session: Session, key: str) -> Incident | None:
    return session.scalars(select(Incident).where(Incident.key == key)).one_or_none()


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose deployments: one app, one team, one value stream, or all (every field None)."""

    app: str | None = None
    team: str | None = None
    value_stream: str | None = None
    team_ids: frozenset[int] | None = None  # the caller's visible teams; None: all


def _owned(query: Select[*_Columns], scope: Scope) -> Select[*_Columns]:
    """``query`` (with ``App`` joined) narrowed to the scope's app, team and visible teams."""
    if scope.app is not None:
        query = query.where(App.name == scope.app)
    if scope.team is not None:
        query = query.join(Team, Team.id == App.team_id).where(Team.name == scope.team)
    if scope.team_ids is not None:
        query = query.where(App.team_id.in_(scope.team_ids))
    return query


def _scoped(query: Select[Deployment], scope: Scope, env: str) -> Select[Deployment]:
    query = query.join(App, App.id == Deployment.app_id).join(
        Environment, Environment.id == Deployment.env_id
    )
    query = query.where(Environment.name == env)
    if scope.value_stream is not None:
        query = query.where(App.value_stream == scope.value_stream)
    return _owned(query, scope)


def scoped_deployments(
    session: Session, scope: Scope, *, env: str, start: datetime, end: datetime
) -> Sequence[Deployment]:
    query = _scoped(select(Deployment), scope, env).where(
        Deployment.status == SUCCEEDED, Deployment.deployed_at >= start, Deployment.deployed_at < end
    )
    return session.scalars(query.order_by(Deployment.deployed_at, Deployment.id)).all()


def commits_of(session: Session, deployment_ids: Sequence[int]) -> Sequence[DeploymentCommit]:
    found: list[DeploymentCommit] = []
    for offset in range(0, len(deployment_ids), 500):  # bounded IN lists
        chunk = deployment_ids[offset : offset + 500]
        found.extend(
            session.scalars(select(DeploymentCommit).where(DeploymentCommit.deployment_id.in_(chunk)))
        )
    return found


def incidents_of(session: Session, deployment_ids: Sequence[int]) -> Sequence[Incident]:
    found: list[Incident] = []
    for offset in range(0, len(deployment_ids), 500):
        chunk = deployment_ids[offset : offset + 500]
        found.extend(session.scalars(select(Incident).where(Incident.deployment_id.in_(chunk))))
    return found


def list_incidents(
    session: Session, scope: Scope, *, env: str | None, open_only: bool, limit: int
) -> Sequence[tuple[Incident, str, str]]:
    query = (
        select(Incident, App.name, Environment.name)
        .join(App, App.id == Incident.app_id)
        .join(Environment, Environment.id == Incident.env_id)
    )
    if env is not None:
        query = query.where(Environment.name == env)
    query = _owned(query, scope)
    if open_only:
        query = query.where(Incident.resolved_at.is_(None))
    query = query.order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
    return [(row, app, env_name) for row, app, env_name in session.execute(query)]


def list_deployments(
    session: Session, scope: Scope, *, env: str | None, limit: int
) -> Sequence[tuple[Deployment, str, str]]:
    """Deployments of the scope, newest first, with their app's and environment's names."""
    query = (
        select(Deployment, App.name, Environment.name)
        .join(App, App.id == Deployment.app_id)
        .join(Environment, Environment.id == Deployment.env_id)
    )
    if env is not None:
        query = query.where(Environment.name == env)
    query = _owned(query, scope)
    query = query.order_by(Deployment.deployed_at.desc(), Deployment.id.desc()).limit(limit)
    return [(row, app, env_name) for row, app, env_name in session.execute(query)]
