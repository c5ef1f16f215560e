"""Password hashing for the portal's local users: argon2id through ``argon2-cffi``, the only module that
imports it. Called by ``portalusers``; a hash that cannot be read counts as a wrong password.
"""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# argon2-cffi's defaults are RFC 9106's second recommended parameters (argon2id, t=3, m=64 MiB, p=4)
_HASHER = PasswordHasher()
MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 reads any length; the cap bounds the work one request can ask for


def hash_password(password: str) -> str:
    """An argon2id hash (with its own random salt and parameters, PHC string format)."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a mismatch or a hash that is not argon2's."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _HASHER.check_needs_rehash(password_hash)


@functools.cache
def dummy_hash() -> str:
    """Checked against when a login is unknown, so that an unknown login takes as long as a wrong
    password (no enumeration of logins by timing)."""
    return hash_password("leitplanke-no-such-user")
