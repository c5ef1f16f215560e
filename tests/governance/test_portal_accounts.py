"""Portal users and sessions on SQLite and PostgreSQL: argon2id passwords, the principal a user or a
token gives, sessions that expire, end and follow revoked tokens and disabled users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from leitplanke.governance import access, errors, portalsessions, portalusers
from leitplanke.store.rows import AuditRecord, PortalUser

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def test_a_user_signs_in_with_their_password_and_gets_their_role_in_their_team(catalog_database: Any) -> None:
    user = portalusers.put_user(
        catalog_database,
        login="alice",
        password="a long passphrase",
        role="developer",
        team="team-shop",
        actor="test",
        now=T0,
    )
    assert (user.subject, user.role, user.team) == ("user:alice", "developer", "team-shop")
    assert (
        portalusers.check_password(catalog_database, login="alice", password="a long passphrase") == user.id
    )
    assert portalusers.check_password(catalog_database, login="alice", password="a long passphrasE") is None
    assert portalusers.check_password(catalog_database, login="bob", password="a long passphrase") is None
    principal = portalusers.principal_of_user(catalog_database, user.id)
    assert principal is not None
    assert (principal.subject, principal.role, principal.team, principal.actor) == (
        "user:alice",
        "developer",
        "team-shop",
        "user:alice via portal:alice",
    )
    with catalog_database.reading() as session:
        last = session.query(AuditRecord).order_by(AuditRecord.seq.desc()).first()
    assert (last.action, last.target, last.details) == (
        "portal-user.created",
        "portal-user:alice",
        {"id": user.id, "subject": "user:alice", "role": "developer", "team": "team-shop"},
    )


@pytest.mark.parametrize(
    ("login", "password", "role", "team", "field"),
    [
        ("al ice", "a long passphrase", "developer", "team-shop", "login"),
        ("alice", "short", "developer", "team-shop", "password"),
        ("alice", "a long passphrase", "owner", "team-shop", "role"),
        ("alice", "a long passphrase", "developer", None, "team"),
        ("alice", "a long passphrase", "platform-admin", "team-shop", "team"),
    ],
)
def test_a_user_with_a_bad_login_password_role_or_team_is_refused_with_the_field(
    catalog_database: Any, login: str, password: str, role: str, team: str | None, field: str
) -> None:
    with pytest.raises(errors.Invalid) as refused:
        portalusers.put_user(
            catalog_database, login=login, password=password, role=role, team=team, actor="test", now=T0
        )
    assert refused.value.field == field


def test_a_session_expires_ends_and_follows_a_revoked_token(catalog_database: Any) -> None:
    created = access.create_token(
        catalog_database, subject="user:ci", name="ci", role="viewer", team="team-data", actor="test", now=T0
    )
    form = portalsessions.open_anonymous(catalog_database, now=T0)
    anonymous = portalsessions.current(catalog_database, form.key, now=T0)
    assert anonymous == portalsessions.Current(form.csrf, None)
    opened = portalsessions.sign_in_token(catalog_database, token_id=created.id, now=T0, replaces=form.key)
    assert portalsessions.current(catalog_database, form.key, now=T0) is None  # the form's session ended
    found = portalsessions.current(catalog_database, opened.key, now=T0 + timedelta(hours=7))
    assert found is not None and found.principal is not None
    assert (found.principal.subject, found.principal.role, found.principal.team) == (
        "user:ci",
        "viewer",
        "team-data",
    )
    assert portalsessions.current(catalog_database, opened.key, now=T0 + timedelta(hours=8)) is None
    access.revoke_token(catalog_database, token_id=created.id, actor="test", now=T0)
    assert portalsessions.current(catalog_database, opened.key, now=T0) is None


def test_a_disabled_user_loses_the_session_at_once(catalog_database: Any) -> None:
    user = portalusers.put_user(
        catalog_database,
        login="bob",
        password="a long passphrase",
        role="viewer",
        team="team-shop",
        actor="test",
        now=T0,
    )
    opened = portalsessions.sign_in_user(catalog_database, user_id=user.id, now=T0, replaces=None)
    with catalog_database.transaction() as session:
        session.get(PortalUser, user.id).disabled_at = T0
    assert portalsessions.current(catalog_database, opened.key, now=T0) is None
    assert portalusers.check_password(catalog_database, login="bob", password="a long passphrase") is None
