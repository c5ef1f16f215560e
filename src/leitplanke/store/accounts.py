"""Queries and writes of the portal's users and sessions, each taking the caller's session; none commits.

Called by ``governance.portalusers`` and ``governance.portalsessions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from leitplanke.store.rows import ApiToken, PortalSession, PortalUser, Team


def user_by_login(session: Session, login: str) -> tuple[PortalUser, str | None] | None:
    """The user and its team's name."""
    query = (
        select(PortalUser, Team.name)
        .outerjoin(Team, PortalUser.team_id == Team.id)
        .where(PortalUser.login == login)
    )
    found = session.execute(query).first()
    return None if found is None else (found[0], found[1])


def user_by_id(session: Session, user_id: int) -> tuple[PortalUser, str | None] | None:
    query = select(PortalUser, Team.name).outerjoin(Team, PortalUser.team_id == Team.id)
    found = session.execute(query.where(PortalUser.id == user_id)).first()
    return None if found is None else (found[0], found[1])


def list_users(session: Session) -> Sequence[tuple[PortalUser, str | None]]:
    query = select(PortalUser, Team.name).outerjoin(Team, PortalUser.team_id == Team.id)
    return [(user, team) for user, team in session.execute(query.order_by(PortalUser.login))]


def token_by_id(session: Session, token_id: int) -> tuple[ApiToken, str | None] | None:
    query = select(ApiToken, Team.name).outerjoin(Team, ApiToken.team_id == Team.id)
    found = session.execute(query.where(ApiToken.id == token_id)).first()
    return None if found is None else (found[0], found[1])


def session_by_key(session: Session, key_hash: str) -> PortalSession | None:
    return session.scalars(select(PortalSession).where(PortalSession.key_hash == key_hash)).one_or_none()


def delete_session(session: Session, key_hash: str) -> None:
    session.execute(delete(PortalSession).where(PortalSession.key_hash == key_hash))


def delete_expired_sessions(session: Session, *, now: datetime) -> int:
    result = session.execute(delete(PortalSession).where(PortalSession.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]  # a DML result has a row count
