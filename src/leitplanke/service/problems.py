"""HTTP problems (RFC 9457, ``application/problem+json``), the request body size limit and the guard
that refuses bodies of anonymous callers.

Every refusal leaves the service through here: validation errors name the field at fault,
governance errors map to their status, oversized bodies are cut off before they are read whole,
anonymous bodies are never read, and any other error is a 500 without internals. ``declare`` writes
that shape (the ``Problem`` schema) into the OpenAPI document, on every operation that may answer it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leitplanke.governance import errors
from leitplanke.governance.access import bearer_token

MEDIA_TYPE = "application/problem+json"
STATUS = {errors.NotFound: 404, errors.Conflict: 409, errors.Invalid: 422, errors.Forbidden: 403}
SCHEMA_REF = "#/components/schemas/Problem"
# the descriptions of the declared responses: what each status means in this API
MEANINGS = {
    400: "Malformed request body: not JSON, or not the JSON the operation reads (`field`: body).",
    401: "No valid API token: send `Authorization: Bearer <token>`.",
    403: "The caller's role does not allow this on this resource.",
    404: "Something the request names does not exist (`field` says which).",
    409: "The request conflicts with the current state: it exists already, or is in no state to allow this.",
    413: "The request body is larger than the service accepts (`limit`: its size in bytes).",
    415: "The request body's media type or content encoding is not one the operation reads.",
    422: "Invalid request: `field` names the field at fault, `errors` lists up to 20 issues.",
    500: "The service could not complete the request (answered without internals).",
    502: "A repository the service writes to (GitOps) could not be read or written (`code`: git).",
    503: "The service is not ready: the database does not answer.",
}


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
    return governance_problem(exc)


def governance_problem(exc: errors.GovernanceError) -> Response:
    """The problem a governance refusal answers (also built by ``service.ingesting``'s processes)."""
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    titles = {403: "Forbidden", 404: "Not found", 409: "Conflict", 422: "Invalid request"}
    issues = getattr(exc, "issues", None)  # an upload's issues, up to 20
    extra = {"errors": issues} if issues else None
    return problem(status, titles.get(status, "Bad request"), detail=str(exc), field=exc.field, extra=extra)


class Refusal(HTTPException):
    """A refusal of the request as such (its size, encoding or syntax), with the problem to answer."""

    def __init__(
        self, status: int, title: str, *, detail: str, field: str = "", extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(status, detail)
        self.title, self.field, self.extra = title, field, extra

    def response(self) -> Response:
        return problem(self.status_code, self.title, detail=self.detail, field=self.field, extra=self.extra)


def too_large(limit: int, *, decompressed: bool = False) -> Refusal:
    what = "the decompressed request body" if decompressed else "the request body"
    detail = f"{what} is larger than {limit} bytes"
    return Refusal(413, "Payload too large", detail=detail, field="body", extra={"limit": limit})


def malformed(detail: str, *, title: str = "Malformed JSON") -> Refusal:
    return Refusal(400, title, detail=detail, field="body")


def unsupported(detail: str) -> Refusal:
    return Refusal(415, "Unsupported media type", detail=detail, field="body")


async def _http(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, Refusal):
        response = exc.response()
    else:
        response = problem(exc.status_code, str(exc.detail) if exc.detail else "Error")
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _internal(request: Request, exc: Exception) -> Response:
    """Anything unforeseen, answered without internals (Starlette raises it on for the server to log)."""
    return internal()


def internal() -> Response:
    return problem(500, "Internal server error", detail="the service could not complete the request")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(errors.GovernanceError, _governance)
    app.add_exception_handler(HTTPException, _http)
    app.add_exception_handler(Exception, _internal)


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
                    # an HTTPException: FastAPI passes it on as it is where it reads a JSON body
                    raise too_large(self.limit)
            return message

        await self.app(scope, limited, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        await too_large(self.limit).response()(scope, receive, send)


class AnonymousBodies:
    """Answers 401 to a request under ``prefix`` that has a body but no valid token, before reading it.

    FastAPI reads and parses a JSON body before a route's dependencies check the token: without this,
    anyone could make the service parse large bodies.
    """

    def __init__(self, app: ASGIApp, *, prefix: str, authenticate: Callable[[str], bool]) -> None:
        self.app, self.prefix, self.authenticate = app, prefix, authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"0")
        if declared.strip() in (b"", b"0") and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        if token is not None and await run_in_threadpool(self.authenticate, token):
            await self.app(scope, receive, send)
            return
        response = problem(401, "A valid API token is required")
        response.headers["WWW-Authenticate"] = "Bearer"
        await response(scope, receive, send)


class NulInAddress:
    """Answers 422 to a request whose path or query holds a NUL character, naming the parameter.

    No name, filter or id the service keeps can contain one, and PostgreSQL refuses NUL in text
    parameters with an error: refused here, every route answers alike on both databases.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            field = _nul_field(str(scope.get("path", "")), scope.get("query_string", b""))
            if field is not None:
                detail = f"{field}: a NUL character is not allowed"
                await problem(422, "Invalid request", detail=detail, field=field)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _nul_field(path: str, query: bytes) -> str | None:
    """The first place of a NUL: ``path`` or the query parameter's name; None when there is none."""
    if "\x00" in path:
        return "path"
    if b"%00" not in query.lower() and b"\x00" not in query:
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return None


def problem_schemas() -> dict[str, Any]:
    """The JSON Schemas of a problem and of one issue of its ``errors``: exactly the members ``problem``
    writes (RFC 9457 allows extension members; this API declares each of its own)."""
    issue = {
        "type": "object",
        "description": "One issue of the request: the field at fault and what is wrong with it.",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "`scan.results[3].verdict`; empty for the whole body"},
            "message": {"type": "string"},
            "type": {
                "type": "string",
                "description": "the validation error's kind (`missing`, `json_invalid`)",
            },
        },
        "additionalProperties": False,
    }
    problem = {
        "type": "object",
        "title": "Problem",
        "description": (
            "An error answer (RFC 9457, `application/problem+json`). Also the answer to an unknown path "
            "(404) or method (405)."
        ),
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "description": "`about:blank`: the status and title say it all"},
            "title": {"type": "string", "description": "short, the same for every occurrence of the problem"},
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "detail": {"type": "string", "description": "what went wrong with this request"},
            "field": {"type": "string", "description": "the field, parameter or part at fault (`body`)"},
            "errors": {
                "type": "array",
                "maxItems": 20,
                "items": {"$ref": "#/components/schemas/ProblemIssue"},
            },
            "limit": {"type": "integer", "description": "413: the largest body accepted, in bytes"},
        },
        "additionalProperties": False,
    }
    return {"Problem": problem, "ProblemIssue": issue}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's own refusals for FastAPI's ``responses=`` (those beyond ``declare``'s common ones)."""
    return {status: _response(status) for status in statuses}


def _response(status: int) -> dict[str, Any]:
    declared: dict[str, Any] = {
        "description": MEANINGS[status],
        "content": {MEDIA_TYPE: {"schema": {"$ref": SCHEMA_REF}}},
    }
    if status == 401:
        declared["headers"] = {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}}
    return declared


def common_statuses(path: str, operation: dict[str, Any], *, api_prefix: str) -> list[int]:
    """The problems any operation may answer: an invalid address or parameter (422) and an internal error
    (500); under ``api_prefix`` no token (401) or no right (403); with a body malformed JSON (400) or
    one too large (413)."""
    statuses = [422, 500]
    if path.startswith(api_prefix):
        statuses += [401, 403]
    if "requestBody" in operation:
        statuses += [400, 413]
    return sorted(statuses)


def declare_problems(document: dict[str, Any], *, api_prefix: str) -> dict[str, Any]:
    """``document`` with the ``Problem`` schema and, on every operation, the problem responses it may
    answer: FastAPI's own 422 (``HTTPValidationError``, a shape this API never answers) is replaced."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(problem_schemas())
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            answers = operation["responses"]
            for status in common_statuses(path, operation, api_prefix=api_prefix):
                if status == 422 or str(status) not in answers:
                    answers[str(status)] = _response(status)
            operation["responses"] = dict(sorted(answers.items()))
    for name in ("HTTPValidationError", "ValidationError"):  # the first refers to the second
        if f'"#/components/schemas/{name}"'.encode() not in orjson.dumps(document):
            schemas.pop(name, None)
    return document


def declare(app: FastAPI, *, api_prefix: str) -> None:
    """Have ``app``'s OpenAPI document declare the problems its operations answer (built on first use)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_problems(generate(), api_prefix=api_prefix)
        return app.openapi_schema

    # FastAPI's documented way to extend the document it generates
    app.openapi = openapi  # type: ignore[method-assign]
