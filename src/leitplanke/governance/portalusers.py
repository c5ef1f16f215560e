"""The portal's local users: a login with an argon2id password hash and one role in one team, as a token
has; ``check_password`` turns a login and password into the same ``access.Principal`` a token gives, so
``authorising`` decides for both alike. Called by the portal's sign-in, ``leitplanke db seed-demo`` and
``serve --demo``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from leitplanke.governance import access, auditing, errors, passwords
from leitplanke.store import accounts, repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import PortalUser

LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,94}$")
OIDC_HASH = "!oidc"  # the password hash of a user the OIDC provider signs in: no password matches it


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    login: str
    subject: str
    role: str
    team: str | None
    created_at: datetime
    disabled_at: datetime | None


def _check(login: str, password: str, role: str, team: str | None) -> None:
    if not LOGIN.match(login):
        raise errors.Invalid(f"login {login!r}: letters, digits, . _ @ + - (at most 95)", field="login")
    if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
        raise errors.Invalid(
            f"a password has {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters", field="password"
        )
    if role not in access.ROLES:
        raise errors.Invalid(f"unknown role {role!r}; use one of {', '.join(access.ROLES)}", field="role")
    if (role == access.PLATFORM_ADMIN) == bool(team):
        raise errors.Invalid("a team role needs a team; platform-admin has none", field="team")


def put_user(
    database: Database,
    *,
    login: str,
    password: str,
    role: str,
    team: str | None,
    actor: str,
    now: datetime,
) -> UserView:
    """Create the user, or give an existing one this password, role and team (and enable it again)."""
    _check(login, password, role, team)
    password_hash = passwords.hash_password(password)  # slow by design: outside the transaction
    with database.transaction() as session:
        team_id = None
        if team:
            team_row = repositories.team_by_name(session, team)
            if team_row is None:
                raise errors.NotFound(f"no team {team!r}", field="team")
            team_id = team_row.id
        found = accounts.user_by_login(session, login)
        if found is None:
            row = PortalUser(
                login=login,
                subject=f"user:{login}",
                password_hash=password_hash,
                role=role,
                team_id=team_id,
                created_at=now,
                disabled_at=None,
            )
            repositories.add(session, row)
            action = "portal-user.created"
        else:
            row = found[0]
            row.password_hash, row.role, row.team_id, row.disabled_at = password_hash, role, team_id, None
            session.flush()
            action = "portal-user.updated"
        chain = auditing.Chain(session)
        details = {"id": row.id, "subject": row.subject, "role": role, "team": team}
        chain.append(actor=actor, action=action, target=f"portal-user:{login}", at=now, details=details)
        chain.flush()
        return _view(row, team)


def _view(row: PortalUser, team: str | None) -> UserView:
    return UserView(
        id=row.id,
        login=row.login,
        subject=row.subject,
        role=row.role,
        team=team,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )


def list_users(database: Database) -> list[UserView]:
    with database.reading() as session:
        return [_view(row, team) for row, team in accounts.list_users(session)]


def check_password(database: Database, *, login: str, password: str) -> int | None:
    """The id of the enabled user whose password this is, else None (an unknown login costs as much
    time as a wrong password)."""
    if len(password) > passwords.MAX_LENGTH or not LOGIN.match(login):
        return None
    with database.reading() as session:
        found = accounts.user_by_login(session, login)
    if found is None:
        passwords.verify_password(passwords.dummy_hash(), password)
        return None
    row = found[0]
    if not passwords.verify_password(row.password_hash, password) or row.disabled_at is not None:
        return None
    return row.id


def principal_of_user(database: Database, user_id: int) -> access.Principal | None:
    """The principal of an enabled user, read afresh (a changed role or a disabled user counts at once)."""
    with database.reading() as session:
        found = accounts.user_by_id(session, user_id)
    if found is None or found[0].disabled_at is not None:
        return None
    row, team = found
    return access.Principal(
        token_id=0,
        subject=row.subject,
        name=row.login,
        role=row.role,
        team=team,
        team_id=row.team_id,
        via="portal",
    )


def principal_of_token(database: Database, token_id: int) -> access.Principal | None:
    """The principal of an active API token by its id (a session signed in with a token)."""
    with database.reading() as session:
        found = accounts.token_by_id(session, token_id)
    if found is None or found[0].revoked_at is not None:
        return None
    row, team = found
    return access.Principal(
        token_id=row.id, subject=row.subject, name=row.name, role=row.role, team=team, team_id=row.team_id
    )


def put_oidc_user(database: Database, *, name: str, role: str, team: str | None, now: datetime) -> int | None:
    """The id of the portal user ``oidc:<name>`` signed in by the OIDC provider, created or given the role
    and team its groups map to now (audited when it changes); None when a platform admin disabled it.
    Its login has a colon, which no local login has, and its hash is no argon2 hash: no password opens it."""
    if not LOGIN.match(name):
        message = f"user name {name[:100]!r}: letters, digits, . _ @ + - (at most 95)"
        raise errors.Invalid(message, field="login")
    if role not in access.ROLES or (role == access.PLATFORM_ADMIN) == bool(team):
        raise errors.Invalid(f"the group mapping gives role {role!r} with team {team!r}", field="role")
    login = f"oidc:{name}"
    with database.transaction() as session:
        team_id = None
        if team:
            team_row = repositories.team_by_name(session, team)
            if team_row is None:
                raise errors.NotFound(f"no team {team!r} (named by the OIDC group mapping)", field="team")
            team_id = team_row.id
        found = accounts.user_by_login(session, login)
        if found is not None and found[0].disabled_at is not None:
            return None
        if found is not None and (found[0].role, found[0].team_id) == (role, team_id):
            return found[0].id
        if found is None:
            row = PortalUser(
                login=login,
                subject=f"user:{login}",
                password_hash=OIDC_HASH,
                role=role,
                team_id=team_id,
                created_at=now,
                disabled_at=None,
            )
            repositories.add(session, row)
            action = "portal-user.created"
        else:
            row = found[0]
            row.role, row.team_id = role, team_id
            session.flush()
            action = "portal-user.updated"
        chain = auditing.Chain(session)
        details = {"id": row.id, "subject": row.subject, "role": role, "team": team, "via": "oidc"}
        chain.append(actor="oidc", action=action, target=f"portal-user:{login}", at=now, details=details)
        chain.flush()
        return row.id
