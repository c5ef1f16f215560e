"""Portal sessions kept on the server: the cookie holds a random key (only its sha256 is stored), each
session holds the synchronizer token of its forms. Signing in ends the session the form came with and
opens a new one (a key planted before sign-in is worth nothing after). Called by ``service.portal``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from leitplanke.governance import access, portalusers
from leitplanke.store import accounts, repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import PortalSession

SIGNED_IN_FOR = timedelta(hours=8)
ANONYMOUS_FOR = timedelta(hours=1)  # a sign-in form's session


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Opened:
    key: str  # for the cookie, never stored
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Current:
    csrf: str
    principal: access.Principal | None  # None: not signed in (a sign-in form's session)


def _open(
    database: Database, *, user_id: int | None, token_id: int | None, now: datetime, replaces: str | None
) -> Opened:
    key, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = now + (SIGNED_IN_FOR if user_id or token_id else ANONYMOUS_FOR)
    with database.transaction() as session:
        if replaces is not None:
            accounts.delete_session(session, _hash(replaces))
        accounts.delete_expired_sessions(session, now=now)
        row = PortalSession(
            key_hash=_hash(key),
            csrf=csrf,
            user_id=user_id,
            token_id=token_id,
            created_at=now,
            expires_at=expires,
        )
        repositories.add(session, row)
    return Opened(key=key, csrf=csrf, expires_at=expires)


def open_anonymous(database: Database, *, now: datetime, replaces: str | None = None) -> Opened:
    """A session for the sign-in form: it carries the form's token and nobody's rights (the session of
    ``replaces``, the cookie's key, ends)."""
    return _open(database, user_id=None, token_id=None, now=now, replaces=replaces)


def sign_in_user(database: Database, *, user_id: int, now: datetime, replaces: str | None) -> Opened:
    return _open(database, user_id=user_id, token_id=None, now=now, replaces=replaces)


def sign_in_token(database: Database, *, token_id: int, now: datetime, replaces: str | None) -> Opened:
    return _open(database, user_id=None, token_id=token_id, now=now, replaces=replaces)


def current(database: Database, key: str | None, *, now: datetime) -> Current | None:
    """The session of a cookie's key with its principal read afresh; None for no, an unknown or an
    expired key, or one whose user was disabled or whose token was revoked."""
    if not key or len(key) > 100:
        return None
    with database.reading() as session:
        row = accounts.session_by_key(session, _hash(key))
        if row is None or row.expires_at <= now:
            return None
        user_id, token_id, csrf = row.user_id, row.token_id, row.csrf
    if user_id is not None:
        principal = portalusers.principal_of_user(database, user_id)
        return None if principal is None else Current(csrf, principal)
    if token_id is not None:
        principal = portalusers.principal_of_token(database, token_id)
        return None if principal is None else Current(csrf, principal)
    return Current(csrf, None)


def sign_out(database: Database, key: str) -> None:
    with database.transaction() as session:
        accounts.delete_session(session, _hash(key))
