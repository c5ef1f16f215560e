"""The rows of recorded admission decisions and the findings one decision touches, for
``governance.admissiondecisions``; repositories never commit: the use case owns the transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from leitplanke.store.rows import AdmissionDecision, Finding


def known_uids(session: Session, uids: Collection[str]) -> set[str]:
    """Which of ``uids`` are recorded already."""
    if not uids:
        return set()
    query = select(AdmissionDecision.uid).where(AdmissionDecision.uid.in_(sorted(uids)))
    return set(session.scalars(query).all())


def add_decisions(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    if rows:
        session.execute(insert(AdmissionDecision), list(rows))


def findings_by_fingerprint(
    session: Session, *, app_id: int, env_id: int, fingerprints: Collection[str]
) -> dict[str, Finding]:
    """The scope's findings with these fingerprints, as ORM rows to change in place."""
    if not fingerprints:
        return {}
    query = select(Finding).where(
        Finding.app_id == app_id, Finding.env_id == env_id, Finding.fingerprint.in_(sorted(fingerprints))
    )
    return {row.fingerprint: row for row in session.scalars(query).all()}
