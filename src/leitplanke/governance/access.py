"""Who is calling: API tokens (stored as sha256, shown once), the subject each belongs to, roles per team.

Every token belongs to a subject, the person or workload behind it (``user:alice@example.com``,
``service:ci-shop``); four eyes compare subjects, never token names. Roles, weakest first: viewer <
developer < approver < admin, each bound to one team, and platform-admin over everything.
``authenticate`` turns a bearer token into a ``Principal``; ``governance.authorising`` decides what it
may do. Called by the service on every request and by ``leitplanke tokens``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from leitplanke.governance import auditing, errors
from leitplanke.store import repositories, tokenrecords
from leitplanke.store.databases import Database
from leitplanke.store.rows import ApiToken

TEAM_ROLES = ("viewer", "developer", "approver", "admin")
PLATFORM_ADMIN = "platform-admin"
ROLES = (*TEAM_ROLES, PLATFORM_ADMIN)
TOKEN_PREFIX = "lp_"
# people and workloads; ``legacy-token:<id>`` is given by migration 0005 only, never on request
SUBJECT = re.compile(r"^(user|service):[A-Za-z0-9][A-Za-z0-9._@+-]{0,94}$")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
ACTOR_LENGTH = 200  # the audit record's actor column


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    token_id: int
    subject: str
    name: str
    role: str
    team: str | None  # None for platform-admin
    team_id: int | None
    via: str = "token"  # how it signed in: an API token, or ``portal`` for a portal user (``name``: login)

    @property
    def actor(self) -> str:
        """Who did it, as audited: the subject and the token it used (before subjects, the actor was
        ``token:<name>`` alone, which this ends with); a portal user's ``<subject> via portal:<login>``."""
        return f"{self.subject} via {self.via}:{self.name}"[:ACTOR_LENGTH]

    @property
    def is_platform_admin(self) -> bool:
        return self.role == PLATFORM_ADMIN

    def visible_team_ids(self) -> frozenset[int] | None:
        """The owning teams whose findings this principal sees; None means all."""
        if self.is_platform_admin or self.team_id is None:
            return None
        return frozenset({self.team_id})

    def allows(self, role: str, *, team: str | None) -> bool:
        """At least ``role`` for ``team`` (None: a platform-wide action, platform-admin only)."""
        if self.is_platform_admin:
            return True
        if team is None or team != self.team:
            return False
        return TEAM_ROLES.index(self.role) >= TEAM_ROLES.index(role)


@dataclass(frozen=True, slots=True)
class CreatedToken:
    id: int
    subject: str
    name: str
    role: str
    team: str | None
    token: str  # shown once, never stored


def check_subject(subject: str) -> None:
    if not SUBJECT.match(subject):
        raise errors.Invalid(
            f"subject {subject!r}: use user:<login or e-mail> or service:<workload>", field="subject"
        )


def create_token(
    database: Database,
    *,
    subject: str,
    name: str,
    role: str,
    team: str | None,
    actor: str,
    now: datetime,
) -> CreatedToken:
    """A new token of ``subject``; a name the subject already uses (even revoked) is a Conflict."""
    check_subject(subject)
    if not TOKEN_NAME.match(name):
        raise errors.Invalid(f"token name {name!r}: letters, digits, . _ - (at most 80)", field="name")
    if role not in ROLES:
        raise errors.Invalid(f"unknown role {role!r}; use one of {', '.join(ROLES)}", field="role")
    if role != PLATFORM_ADMIN and not team:
        raise errors.Invalid(f"a {role} token belongs to a team", field="team")
    if role == PLATFORM_ADMIN and team:
        raise errors.Invalid("a platform-admin token belongs to no team", field="team")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with database.transaction() as session:
        team_id = None
        if team:
            team_row = repositories.team_by_name(session, team)
            if team_row is None:
                raise errors.NotFound(f"no team {team!r}", field="team")
            team_id = team_row.id
        if tokenrecords.token_named(session, subject=subject, name=name) is not None:
            raise errors.Conflict(f"{subject} already has a token named {name!r}", field="name")
        row = ApiToken(
            subject=subject,
            name=name,
            token_hash=hash_token(token),
            role=role,
            team_id=team_id,
            created_at=now,
            revoked_at=None,
        )
        repositories.add(session, row)
        chain = auditing.Chain(session)
        details = {"id": row.id, "subject": subject, "role": role, "team": team}
        chain.append(actor=actor, action="token.created", target=f"token:{name}", at=now, details=details)
        chain.flush()
    return CreatedToken(id=row.id, subject=subject, name=name, role=role, team=team, token=token)


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    subject: str
    name: str
    role: str
    team: str | None
    created_at: datetime
    revoked_at: datetime | None


def list_tokens(database: Database) -> list[TokenView]:
    """Every token (never its secret), by subject then name; revoked ones too."""
    with database.reading() as session:
        return [
            TokenView(
                id=row.id,
                subject=row.subject,
                name=row.name,
                role=row.role,
                team=team,
                created_at=row.created_at,
                revoked_at=row.revoked_at,
            )
            for row, team in tokenrecords.list_tokens(session)
        ]


def revoke_token(database: Database, *, token_id: int, actor: str, now: datetime) -> None:
    with database.transaction() as session:
        if not tokenrecords.revoke_token(session, token_id, now=now):
            raise errors.NotFound(f"no active token {token_id}", field="id")
        chain = auditing.Chain(session)
        chain.append(actor=actor, action="token.revoked", target=f"token:{token_id}", at=now, details={})
        chain.flush()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value; None for anything else."""
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def authenticate(database: Database, token: str) -> Principal | None:
    """The principal of an active token, or None (unknown, revoked or malformed)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    with database.reading() as session:
        found = tokenrecords.token_by_hash(session, hash_token(token))
    if found is None:
        return None
    row, team = found
    if row.revoked_at is not None:
        return None
    return Principal(
        token_id=row.id, subject=row.subject, name=row.name, role=row.role, team=team, team_id=row.team_id
    )
