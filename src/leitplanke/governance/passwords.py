"""Password hashing for the portal's local users: argon2id through ``argon2-cffi``, the only module that
imports it. Called by ``portalusers``; a hash that cannot be read counts as a wrong password.
"""

from __future__ import annotations

import functools
import os
import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from leitplanke.core.problems import UsageError

# the parameters of new hashes, "t=<passes>,m=<memory in KiB>,p=<lanes>"; unset: argon2-cffi's defaults,
# RFC 9106's second recommended parameters (argon2id, t=3, m=64 MiB, p=4). A hash keeps its own
# parameters, so one made with other parameters still verifies
PARAMETERS_VARIABLE = "LEITPLANKE_ARGON2"
_PARAMETERS = re.compile(r"t=(?P<t>[1-9]\d{0,2}),m=(?P<m>[1-9]\d{2,7}),p=(?P<p>[1-9]\d?)")
MIN_LENGTH = 12
MAX_LENGTH = 1024  # argon2 reads any length; the cap bounds the work one request can ask for


def hasher(parameters: str | None = None) -> PasswordHasher:
    """The hasher of ``parameters`` (as ``LEITPLANKE_ARGON2`` spells them), or of that variable."""
    spelled = os.environ.get(PARAMETERS_VARIABLE, "") if parameters is None else parameters
    return _hasher(spelled.replace(" ", ""))


@functools.cache
def _hasher(spelled: str) -> PasswordHasher:
    if not spelled:
        return PasswordHasher()
    found = _PARAMETERS.fullmatch(spelled)
    if found is None or int(found["m"]) < 8 * int(found["p"]):
        raise UsageError(
            f"{PARAMETERS_VARIABLE}={spelled!r}: expected t=<passes>,m=<memory in KiB>,p=<lanes>, such as "
            "t=3,m=65536,p=4, with m at least 8 KiB per lane"
        )
    return PasswordHasher(time_cost=int(found["t"]), memory_cost=int(found["m"]), parallelism=int(found["p"]))


def hash_password(password: str) -> str:
    """An argon2id hash (with its own random salt and parameters, PHC string format)."""
    return hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches; False for a mismatch or a hash that is not argon2's."""
    try:
        return hasher().verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return hasher().check_needs_rehash(password_hash)


@functools.cache
def dummy_hash() -> str:
    """Checked against when a login is unknown, so that an unknown login takes as long as a wrong
    password (no enumeration of logins by timing)."""
    return hash_password("leitplanke-no-such-user")
