"""Opaque page cursors of the list routes: base64url of ``kind:last id``, checked on the way back in.

A cursor names the last row of a page; the next page starts after it (keyset pagination), so deep
pages cost an index range, not a scan of every row before them. Used by ``routes``.
"""

from __future__ import annotations

import base64
import binascii

from leitplanke.governance import errors

MAX_ID = 2**63 - 1


def encode(kind: str, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{last_id}".encode("ascii")).decode("ascii").rstrip("=")


def decode(kind: str, cursor: str) -> int:
    """The last id a cursor of ``kind`` names; Invalid (field ``cursor``) for anything else."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        found, _, number = text.partition(":")
        last_id = int(number) if number.isdigit() else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        found, last_id = "", -1
    if found != kind or not 0 <= last_id <= MAX_ID:
        raise errors.Invalid(
            "not a cursor of this list: pass the `next` of the previous page", field="cursor"
        )
    return last_id


def after(kind: str, cursor: str | None, *, offset: int) -> int | None:
    """The id to continue after, or None to page by ``offset``; both at once are refused."""
    if cursor is None:
        return None
    if offset:
        raise errors.Invalid("pass either cursor or offset, not both", field="offset")
    return decode(kind, cursor)
