"""``POST /api/v1/scans``: a scan upload, checked in the order that keeps the service safe and responsive.

The token first (401 before a byte of the body is read), then the caller's right to upload for the
app when the query names it, then the body parsed as a stream within the size limit and ingested
(``service.ingesting``): streamed as it arrives to the ingestion process when the application runs
one, else in a worker thread of this process (an NDJSON body while it arrives, ``service.receiving``;
the old JSON report once spooled, to disk past 1 MiB). The event loop stays free for other callers.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from functools import partial
from typing import IO, Annotated

import anyio.to_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from leitplanke import catalog
from leitplanke.governance import access, authorising, errors, findings, uploadformats
from leitplanke.service import ingesting, problems, receiving, routes, schemas
from leitplanke.service.contexts import Context

_log = logging.getLogger(__name__)
_SPOOL_IN_MEMORY = 1 << 20
_JSON, _NDJSON = "application/json", uploadformats.MEDIA_TYPE
AppName = Annotated[str | None, Query(min_length=1, max_length=100, pattern=uploadformats.APP.pattern)]


def api_router() -> APIRouter:
    router = APIRouter()

    @router.post(
        "/scans",
        status_code=201,
        response_model=schemas.Ingested,
        tags=["findings"],
        openapi_extra={"requestBody": schemas.scan_upload_body()},
        responses=problems.responses(404, 409, 415),
    )
    async def upload_scan(request: Request, app: AppName = None, env: AppName = None) -> Response:
        """Ingest a scan of one app in one environment (developer role of the app's team).

        The body is ``application/x-ndjson`` (``leitplanke.dev/upload/v2``, what ``leitplanke scan
        --upload`` sends) or ``application/json`` (``{"app", "env", "scan": <scan -f json report>}``),
        either optionally ``Content-Encoding: gzip``. With ``?app=&env=`` the caller's right is checked
        before the body is read; the body must then name the same app and environment.
        """
        context: Context = request.app.state.context
        token = access.bearer_token(request.headers.get("authorization"))
        principal = await run_in_threadpool(routes.principal_of, context, token)
        media, gzip = _format(request)
        if app is not None:
            await run_in_threadpool(_authorise, context, principal, app)
        limit = context.settings.max_body_bytes
        _refuse_declared_size(request, limit=limit)
        job = ingesting.Job(
            principal=principal, media=media, gzip=gzip, app=app, env=env, now=context.clock()
        )
        ingester: ingesting.Ingester | None = getattr(request.app.state, "ingester", None)
        if ingester is not None and ingester.running:  # parsed and ingested off this process's GIL
            wire = receiving.WireBody(request.stream(), limit=limit)
            answer = await anyio.to_thread.run_sync(partial(ingester.upload, job, wire))
            if answer is not None:
                return await run_in_threadpool(_respond, context, job, answer)
        if media == _NDJSON:  # parsed while it arrives: one pass, one chunk held at a time
            wire = receiving.WireBody(request.stream(), limit=limit)
            run = partial(_drained_on_error, partial(_ingest, context, job, wire), wire)
            return _done(context, await anyio.to_thread.run_sync(run))
        # the old JSON report is read in several passes (its small fields first): spooled
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY) as spool:
            await _receive(request, spool, limit=limit)
            outcome = await anyio.to_thread.run_sync(partial(_ingest, context, job, spool))
        return _done(context, outcome)

    return router


def _authorise(context: Context, principal: access.Principal, app: str) -> None:
    owner = catalog.owner_of(context.database, app)
    if owner is None:
        raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
    routes.authorise(context, principal, "scan.upload", authorising.for_app(app, owner))


def _format(request: Request) -> tuple[str, bool]:
    """The body's media type (NDJSON or JSON) and whether it is gzipped; 415 for anything else."""
    media = request.headers.get("content-type", _JSON).split(";")[0].strip().lower()
    if media not in (_JSON, _NDJSON):
        raise problems.unsupported(f"the body must be {_NDJSON} or {_JSON}, not {media or 'untyped'}")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise problems.unsupported(f"the body may be encoded as gzip, not as {encoding}")
    return media, encoding == "gzip"


def _refuse_declared_size(request: Request, *, limit: int) -> None:
    """413 before a byte is read when the Content-Length is over ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise problems.too_large(limit)


def _drained_on_error(job: Callable[[], findings.Ingested], wire: receiving.WireBody) -> findings.Ingested:
    """``job`` in the worker thread; when it fails before the body's end, the rest is read first (and
    a body over the limit gets 413 whatever made the parse fail, as when it was read whole first)."""
    try:
        return job()
    except problems.Refusal as exc:
        if exc.status_code != 413:
            wire.drain()
        raise
    except Exception:
        wire.drain()
        raise


async def _receive(request: Request, spool: IO[bytes], *, limit: int) -> None:
    """The body into ``spool``; over ``limit`` bytes on the wire 413."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise problems.too_large(limit)
        spool.write(chunk)


def _ingest(context: Context, job: ingesting.Job, body: IO[bytes] | receiving.WireBody) -> findings.Ingested:
    """In a worker thread of this process: parse the body (spooled, or arriving) as it is ingested."""
    authorise = partial(_authorise, context, job.principal)
    return ingesting.ingest(context.database, context.settings, job, body, authorise=authorise)


def _respond(context: Context, job: ingesting.Job, answer: ingesting.Answer) -> Response:
    """The ingestion process's answer as this process answers it (a worker thread: a refusal is
    audited)."""
    if isinstance(answer, ingesting.Done):
        return _done(context, answer.outcome)
    if isinstance(answer, ingesting.Problem):
        return answer.response()
    if isinstance(answer, ingesting.Refused):
        _authorise(context, job.principal, answer.app)  # 403, counted and audited here
        raise errors.Conflict(f"the catalog changed during the upload for {answer.app!r}: send it again")
    reason = answer.reason if isinstance(answer, ingesting.Failed) else "the body was not sent whole"
    _log.error("an upload failed in the ingestion process: %s", reason)
    return problems.internal()


def _done(context: Context, outcome: findings.Ingested) -> JSONResponse:
    context.metrics.scans.inc()
    for transition, count in outcome.transitions.items():
        context.metrics.transitions.labels(transition).inc(count)
    return JSONResponse(
        outcome.as_dict(), status_code=201, background=BackgroundTask(_upkeep, context, outcome)
    )


def _upkeep(context: Context, outcome: findings.Ingested) -> None:
    """Once the upload is answered (a worker thread): what may come after its transaction."""
    try:
        findings.refresh_statistics(context.database, outcome)
    except Exception:  # the edge: the upload stands; the statistics come with autovacuum instead
        _log.exception("the findings' statistics were not refreshed after scan %s", outcome.scan_id)
