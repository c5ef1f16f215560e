"""The rules of change control hold in the database itself, on SQLite and PostgreSQL: SQL that goes
around the use cases (a forged write, a bug in a route) is refused by a check, a key or a unique
constraint, and the conditional update applies a change once, for the diff it was approved for."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from changeflows import BOB, T0, approve, manifests, propose
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from leitplanke.delivery import changes
from leitplanke.store import changerecords

APPROVAL = text(
    "INSERT INTO change_approvals (change_id, author_subject, approver, approver_subject, team, diff_hash,"
    " approved_at, expires_at) VALUES (:id, :author, 'forged', :approver, 'team-shop', :hash, :at, :until)"
)


def _approve_by_sql(database: Any, view: changes.ChangeView, *, author: str, approver: str) -> None:
    with database.transaction() as session:
        session.execute(
            APPROVAL,
            {
                "id": view.id,
                "author": author,
                "approver": approver,
                "hash": view.diff_hash,
                "at": T0.replace(tzinfo=None),
                "until": (T0 + timedelta(hours=1)).replace(tzinfo=None),
            },
        )


def _sql(database: Any, statement: str, **params: Any) -> None:
    with database.transaction() as session:
        session.execute(text(statement), params)


def test_an_approval_by_the_author_written_in_sql_is_refused(setup: Any) -> None:
    view = propose(setup, manifests(), now=T0)
    with pytest.raises(IntegrityError, match=r"ck_change_approvals_four_eyes|CHECK constraint failed"):
        _approve_by_sql(setup.database, view, author=view.author_subject, approver=view.author_subject)
    # nor by naming someone else as the author: the key ties the approval to the change's real author
    with pytest.raises(
        IntegrityError, match=r"fk_change_approvals_change_author|FOREIGN KEY constraint failed"
    ):
        _approve_by_sql(setup.database, view, author="user:mallory", approver=view.author_subject)


def test_a_second_approval_by_the_same_person_written_in_sql_is_refused(setup: Any) -> None:
    view = propose(setup, manifests(), now=T0)
    approve(setup, view, BOB, now=T0)
    with pytest.raises(IntegrityError, match=r"uq_change_approvals_once|UNIQUE constraint failed"):
        _approve_by_sql(setup.database, view, author=view.author_subject, approver=BOB.subject)


def test_an_unapproved_change_set_to_applied_in_sql_is_refused(setup: Any) -> None:
    view = propose(setup, manifests(), now=T0)
    with pytest.raises(IntegrityError, match=r"ck_change_requests_approved_diff|CHECK constraint failed"):
        _sql(
            setup.database,
            "UPDATE change_requests SET status = 'applied', commit_sha = :sha WHERE id = :id",
            sha="a" * 40,
            id=view.id,
        )
    # approved without a commit, or applied without one, is refused as well
    with pytest.raises(IntegrityError, match=r"ck_change_requests_commit|CHECK constraint failed"):
        _sql(
            setup.database,
            "UPDATE change_requests SET status = 'applied', approved_hash = diff_hash WHERE id = :id",
            id=view.id,
        )


def test_a_new_diff_of_an_approved_change_written_in_sql_is_refused(setup: Any) -> None:
    view = propose(setup, manifests(), now=T0)
    approve(setup, view, BOB, now=T0)
    with pytest.raises(IntegrityError, match=r"ck_change_requests_approved_diff|CHECK constraint failed"):
        _sql(
            setup.database,
            "UPDATE change_requests SET diff_hash = :hash WHERE id = :id",
            hash="f" * 64,
            id=view.id,
        )


def test_the_conditional_update_applies_once_and_only_the_approved_diff(setup: Any) -> None:
    view = propose(setup, manifests(), now=T0)
    approve(setup, view, BOB, now=T0)

    def mark(diff_hash: str, sha: str, needed: int = 1) -> bool:
        with setup.database.transaction() as session:
            return changerecords.mark_applied(
                session,
                change_id=view.id,
                diff_hash=diff_hash,
                commit_sha=sha,
                actor="forged",
                at=T0,
                approvals_needed=needed,
            )

    assert mark("e" * 64, "1" * 40) is False  # a diff that was not approved
    assert mark(view.diff_hash, "1" * 40, needed=2) is False  # fewer approvals than the rules need
    assert mark(view.diff_hash, "1" * 40) is True
    assert mark(view.diff_hash, "2" * 40) is False  # applied twice
    assert changes.get_change(setup.database, view.id, now=T0).commit_sha == "1" * 40
    # and back to approved (to apply it again) it cannot go: an approved change has no commit
    with pytest.raises(IntegrityError, match=r"ck_change_requests_commit|CHECK constraint failed"):
        _sql(setup.database, "UPDATE change_requests SET status = 'approved' WHERE id = :id", id=view.id)


def test_an_expired_approval_no_longer_counts_in_the_conditional_update(setup: Any) -> None:
    view = propose(setup, manifests(), now=T0)
    approve(setup, view, BOB, now=T0)
    with setup.database.transaction() as session:
        written = changerecords.mark_applied(
            session,
            change_id=view.id,
            diff_hash=view.diff_hash,
            commit_sha="1" * 40,
            actor="late",
            at=T0 + timedelta(hours=8),
            approvals_needed=1,
        )
    assert written is False
