"""What the engine keeps between runs (compiled CEL): how it is written, sealed and read back.

``cel`` names its file after everything the contents depend on; the folder comes from the
caller (the CLI reads it from the environment, ``settings.cache_directory``). Entries are
plain bytes in a framed file with an HMAC under a key only this user can read: nothing read
back is executed, and a file someone else wrote or changed is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import struct
import tempfile
from collections.abc import Mapping
from pathlib import Path

_MAGIC = b"leitplanke-cache-1\n"
_LENGTH = struct.Struct(">I")
_KEY_FILE = "key"
_KEY_BYTES = 32


def keep(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` whole or not at all (another scan may be reading it), readable
    by this user only.

    Best effort: a cache that cannot be written is skipped, never an error; returns whether
    it was written.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as out:  # created 0600
            out.write(data)
        os.replace(out.name, path)
    except OSError:
        return False
    return True


def keep_entries(path: Path, entries: Mapping[str, bytes]) -> bool:
    """Write ``entries`` sealed under this user's key beside ``path``; False if not written."""
    key = _key(path.parent)
    if key is None:
        return False
    body = b"".join(
        _LENGTH.pack(len(raw)) + raw
        for name, value in entries.items()
        for raw in (name.encode("utf-8", "surrogatepass"), value)
    )
    return keep(path, _MAGIC + hmac.digest(key, body, hashlib.sha256) + body)


def read_entries(path: Path) -> dict[str, bytes]:
    """The entries ``keep_entries`` wrote to ``path``; nothing if the file is absent, damaged,
    or not sealed under this user's key."""
    key = _key(path.parent, create=False)
    try:
        data = path.read_bytes()
    except OSError:
        return {}
    if key is None or not data.startswith(_MAGIC):
        return {}
    seal, body = data[len(_MAGIC) : len(_MAGIC) + 32], data[len(_MAGIC) + 32 :]
    if not hmac.compare_digest(seal, hmac.digest(key, body, hashlib.sha256)):
        return {}
    parts: list[bytes] = []
    at = 0
    while at < len(body):
        if at + _LENGTH.size > len(body):
            return {}
        (size,) = _LENGTH.unpack_from(body, at)
        at += _LENGTH.size
        parts.append(body[at : at + size])
        at += size
    if at != len(body) or len(parts) % 2:
        return {}
    return {parts[i].decode("utf-8", "surrogatepass"): parts[i + 1] for i in range(0, len(parts), 2)}


def _key(folder: Path, *, create: bool = True) -> bytes | None:
    """This user's key for ``folder``, made on first use; None if the key file is not this
    user's alone (another user could have made it, or read it)."""
    path = folder / _KEY_FILE
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return _new_key(path) if create else None
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None
        key = file.read(_KEY_BYTES + 1)
    return key if len(key) == _KEY_BYTES else None


def _new_key(path: Path) -> bytes | None:
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:  # another process made it first
        return _key(path.parent, create=False)
    except OSError:
        return None
    with os.fdopen(descriptor, "wb") as file:
        file.write(key)
    return key
