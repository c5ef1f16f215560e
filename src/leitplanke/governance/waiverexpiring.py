"""Expiring waivers: requested ones past their expiry lapse, approved ones expire and give their
findings back (``waivedfindings.uncover``); and the approved, unexpired waivers an ingestion honours.

Called by the findings ingestion (``expire_due``, ``active_in_scope``, in its transaction) and by the
service's periodic expiry task (``expire_waivers``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from leitplanke.core import waivers as core_waivers
from leitplanke.governance import auditing, waivedfindings, waivers
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import Waiver


def expire_waivers(database: Database, *, now: datetime) -> list[int]:
    """Expire every waiver whose time has come, in one transaction; the ids expired."""
    with database.transaction() as session:
        chain = auditing.Chain(session)
        expired = expire_due(session, chain, now=now)
        chain.flush()
    return expired


def expire_due(session: Session, chain: auditing.Chain, *, now: datetime) -> list[int]:
    """Inside the caller's transaction (the ingestion's, or ``expire_waivers``'): requested waivers
    past their expiry lapse, approved ones expire and the findings they waived are reopened."""
    expired: list[int] = []
    for row in repositories.waivers_due(session, statuses=(waivers.REQUESTED, waivers.APPROVED), now=now):
        was = row.status
        row.status, row.expired_at = waivers.EXPIRED, now
        session.flush()
        chain.append(
            actor=waivers.SYSTEM,
            action="waiver.expired",
            target=f"waiver:{row.id}",
            at=now,
            details={"was": was, "expires": auditing.format_time(row.expires)},
        )
        if was == waivers.APPROVED:
            _uncover(session, chain, row, now=now)
        expired.append(row.id)
    return expired


def _uncover(session: Session, chain: auditing.Chain, row: Waiver, *, now: datetime) -> None:
    found = repositories.waiver_by_id(session, row.id)
    assert found is not None
    waivedfindings.uncover(
        session,
        chain,
        waivers.waiver_name(row.id),
        others=active_in_scope(session, app_id=row.app_id, env_id=row.env_id, now=now),
        app_id=row.app_id,
        env_id=row.env_id,
        scope=(found[1], found[2]),
        actor=waivers.SYSTEM,
        now=now,
    )


def active_in_scope(
    session: Session, *, app_id: int, env_id: int, now: datetime
) -> list[core_waivers.Waiver]:
    """The approved, unexpired waivers of one (app, env), for the ingestion to honour."""
    rows = repositories.waivers_in_scope(session, app_id=app_id, env_id=env_id, status=waivers.APPROVED)
    return [waivers.to_core(row) for row in rows if row.expires > now]
