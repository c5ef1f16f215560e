"""Queries and writes of change requests and their approvals, each taking the caller's session.

Called by ``delivery``; none of them commits. ``mark_applied`` is the conditional write that makes a
change applied once, with the diff it was approved for and enough approvals that still count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, func, select, update
from sqlalchemy.orm import Session

from leitplanke.store.changerows import ChangeApproval, ChangeRequest
from leitplanke.store.rows import App, Environment, Team

Found = tuple[ChangeRequest, str, str, str]  # the change, its app, env and owning team


def _scoped() -> Select[ChangeRequest, str, str, str]:
    return (
        select(ChangeRequest, App.name, Environment.name, Team.name)
        .join(App, App.id == ChangeRequest.app_id)
        .join(Environment, Environment.id == ChangeRequest.env_id)
        .join(Team, Team.id == App.team_id)
    )


def change_by_id(session: Session, change_id: int) -> Found | None:
    query = _scoped().where(ChangeRequest.id == change_id)
    row = session.execute(query).one_or_none()
    return None if row is None else (row[0], row[1], row[2], row[3])


def change_by_commit(session: Session, sha: str) -> ChangeRequest | None:
    return session.scalars(select(ChangeRequest).where(ChangeRequest.commit_sha == sha)).one_or_none()


@dataclass(frozen=True, slots=True)
class ChangeFilter:
    app: str | None = None
    env: str | None = None
    team: str | None = None
    status: str | None = None
    team_ids: frozenset[int] | None = None  # None: every team
    limit: int = 200
    newest_first: bool = False  # the newest ``limit`` (the portal's recent changes); else the oldest


def query_changes(session: Session, where: ChangeFilter) -> list[Found]:
    query = _scoped()
    conditions = []
    if where.app is not None:
        conditions.append(App.name == where.app)
    if where.env is not None:
        conditions.append(Environment.name == where.env)
    if where.team is not None:
        conditions.append(Team.name == where.team)
    if where.status is not None:
        conditions.append(ChangeRequest.status == where.status)
    if where.team_ids is not None:
        conditions.append(App.team_id.in_(sorted(where.team_ids)))
    if conditions:
        query = query.where(and_(*conditions))
    order = ChangeRequest.id.desc() if where.newest_first else ChangeRequest.id
    query = query.order_by(order).limit(where.limit)
    return [(r[0], r[1], r[2], r[3]) for r in session.execute(query)]


def changes_in_status(session: Session, status: str) -> Sequence[ChangeRequest]:
    query = select(ChangeRequest).where(ChangeRequest.status == status).order_by(ChangeRequest.id)
    return session.scalars(query).all()


def approvals_of(session: Session, change_id: int) -> Sequence[ChangeApproval]:
    query = select(ChangeApproval).where(ChangeApproval.change_id == change_id).order_by(ChangeApproval.id)
    return session.scalars(query).all()


def approvals_of_changes(session: Session, change_ids: Sequence[int]) -> dict[int, list[ChangeApproval]]:
    """The approvals of each of ``change_ids`` (oldest first) in one query: a listing's, not one a change."""
    found: dict[int, list[ChangeApproval]] = {change_id: [] for change_id in change_ids}
    if not change_ids:
        return found
    query = (
        select(ChangeApproval)
        .where(ChangeApproval.change_id.in_(sorted(set(change_ids))))
        .order_by(ChangeApproval.id)
    )
    for approval in session.scalars(query):
        found[approval.change_id].append(approval)
    return found


def mark_applied(
    session: Session,
    *,
    change_id: int,
    diff_hash: str,
    commit_sha: str,
    actor: str,
    at: datetime,
    approvals_needed: int,
    window_override: str = "",
) -> bool:
    """approved → applied, only if the change is still approved for ``diff_hash``, has no commit yet
    and at least ``approvals_needed`` approvals of that diff have not expired. False: nothing written."""
    counting = (
        select(func.count())
        .select_from(ChangeApproval)
        .where(
            ChangeApproval.change_id == change_id,
            ChangeApproval.diff_hash == diff_hash,
            ChangeApproval.expires_at > at,
        )
        .scalar_subquery()
    )
    statement = (
        update(ChangeRequest)
        .where(
            ChangeRequest.id == change_id,
            ChangeRequest.status == "approved",
            ChangeRequest.diff_hash == diff_hash,
            ChangeRequest.approved_hash == diff_hash,
            ChangeRequest.commit_sha.is_(None),
            counting >= approvals_needed,
        )
        .values(
            status="applied",
            commit_sha=commit_sha,
            applied_by=actor,
            applied_at=at,
            updated_at=at,
            window_override=window_override,
        )
        .execution_options(synchronize_session=False)
    )
    written = session.execute(statement).rowcount  # type: ignore[attr-defined]  # an UPDATE's CursorResult
    session.expire_all()
    return bool(written == 1)
