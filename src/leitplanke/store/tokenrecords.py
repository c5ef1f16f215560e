"""The API tokens' queries and writes (``governance.access`` issues, checks and revokes tokens through
them), each taking the caller's session; none of them commits. Only the sha256 of a token is stored.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leitplanke.store.rows import ApiToken, Team


def token_by_hash(session: Session, token_hash: str) -> tuple[ApiToken, str | None] | None:
    query = (
        select(ApiToken, Team.name)
        .outerjoin(Team, ApiToken.team_id == Team.id)
        .where(ApiToken.token_hash == token_hash)
    )
    found = session.execute(query).first()
    return None if found is None else (found[0], found[1])


def token_named(session: Session, *, subject: str, name: str) -> ApiToken | None:
    query = select(ApiToken).where(ApiToken.subject == subject, ApiToken.name == name)
    return session.scalars(query).one_or_none()


def list_tokens(session: Session) -> list[tuple[ApiToken, str | None]]:
    """Every token with its team's name, by subject then name (revoked ones too)."""
    query = (
        select(ApiToken, Team.name)
        .outerjoin(Team, ApiToken.team_id == Team.id)
        .order_by(ApiToken.subject, ApiToken.name, ApiToken.id)
    )
    return [(row, team) for row, team in session.execute(query).all()]


def revoke_token(session: Session, token_id: int, *, now: datetime) -> bool:
    result = session.execute(
        update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
