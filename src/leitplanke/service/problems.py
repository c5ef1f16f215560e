"""HTTP problems (RFC 9457, ``application/problem+json``) and the request body size limit.

Every refusal leaves the service through here: validation errors name the field at fault,
governance errors map to their status, oversized bodies are cut off before they are read whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leitplanke.governance import errors

MEDIA_TYPE = "application/problem+json"
STATUS = {errors.NotFound: 404, errors.Conflict: 409, errors.Invalid: 422, errors.Forbidden: 403}


def problem(
    status: int, title: str, *, detail: str = "", field: str = "", extra: dict[str, Any] | None = None
) -> Response:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    if field:
        body["field"] = field
    body.update(extra or {})
    return Response(orjson.dumps(body), status_code=status, media_type=MEDIA_TYPE)


def field_path(loc: Sequence[Any]) -> str:
    """``("body", "scan", "results", 3, "verdict")`` → ``scan.results[3].verdict``."""
    parts = list(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


async def _validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        {"field": field_path(e.get("loc", ())), "message": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(issue["type"] == "json_invalid" for issue in issues):
        first = next(e for e in exc.errors() if e.get("type") == "json_invalid")
        detail = f"the body is not valid JSON: {first.get('ctx', {}).get('error', first.get('msg'))}"
        return problem(400, "Malformed JSON", detail=detail, field="", extra={"errors": issues[:20]})
    first_field = issues[0]["field"] if issues else ""
    detail = f"{first_field}: {issues[0]['message']}" if issues else "invalid request"
    return problem(422, "Invalid request", detail=detail, field=first_field, extra={"errors": issues[:20]})


async def _governance(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.GovernanceError)
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    titles = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Invalid request"}
    return problem(status, titles.get(status, "Bad request"), detail=str(exc), field=exc.field)


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = problem(exc.status_code, str(exc.detail) if exc.detail else "Error")
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(errors.GovernanceError, _governance)
    app.add_exception_handler(HTTPException, _http)


class BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413: by Content-Length up front, or while streaming."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413,
            "Payload too large",
            detail=f"the request body is larger than {self.limit} bytes",
            field="body",
            extra={"limit": self.limit},
        )
        await response(scope, receive, send)


class _TooLarge(Exception):
    pass
