"""Form posts of the portal: the body read within a bound and parsed, the synchronizer token checked.

The session is resolved before the body is read (``sessions``); ``read_form`` then reads at most
``MAX_FORM_BYTES`` of ``application/x-www-form-urlencoded``. Called by every POST of the portal.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from fastapi import HTTPException, Request

MAX_FORM_BYTES = 64 * 1024
CSRF_FIELD = "csrf"


class Form:
    """The fields of a posted form: the first value of each, or all values of a repeated one."""

    def __init__(self, values: dict[str, list[str]]) -> None:
        self._values = values

    def get(self, name: str, default: str = "") -> str:
        return self._values.get(name, [default])[0]

    def all(self, name: str) -> list[str]:
        return list(self._values.get(name, []))


async def read_form(request: Request, *, limit: int = MAX_FORM_BYTES) -> Form:
    """The posted form (an empty body is an empty form); 413 past ``limit`` bytes, 415 for a body of
    another content type."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise HTTPException(413, f"a form has at most {limit} bytes")
    if body and kind != "application/x-www-form-urlencoded":
        raise HTTPException(415, "the portal's forms are posted as application/x-www-form-urlencoded")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HTTPException(400, "a form is UTF-8") from exc
    try:
        return Form(parse_qs(text, keep_blank_values=True, max_num_fields=200))
    except ValueError as exc:  # more fields than any form of the portal has
        raise HTTPException(400, "a form has at most 200 fields") from exc


def check_csrf(form: Form, expected: str) -> None:
    """403 unless the form carries its session's synchronizer token."""
    if not hmac.compare_digest(form.get(CSRF_FIELD).encode(), expected.encode()):
        raise HTTPException(403, "the form's CSRF token is missing or wrong: reload the page and try again")
