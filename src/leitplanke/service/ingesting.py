"""Ingesting a scan upload: its body parsed and ingested, in the request process or in a process of its own.

``ingest`` is the use case's edge (parse, check the body against the query, the caller's right when
only the body names the app, ``findings.ingest_scan``). ``Ingester`` runs it off the request process's
GIL: ``create_app``'s lifespan starts it before any other thread, as a long-lived forked process that
forks again for every upload (a single-threaded child with its own database engine, whose memory is
returned when it exits). ``service.uploads`` streams the body's chunks to it through a pipe and gets
back the answer as a value (``Done``, ``Problem``, ``Refused``, ``Failed``).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import multiprocessing
import os
import signal
import tempfile
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from multiprocessing.connection import Connection
from typing import IO, Any

from sqlalchemy.engine import make_url
from starlette.responses import Response

from leitplanke import catalog
from leitplanke.governance import access, alerting, authorising, errors, findings, uploadformats
from leitplanke.service import problems, receiving, uploadparsing
from leitplanke.settings import Settings
from leitplanke.store import databases

_log = logging.getLogger(__name__)
NDJSON = uploadformats.MEDIA_TYPE
_SPOOL_IN_MEMORY = 1 << 20
# the frames of a body on the pipe: a chunk, its end, or the request's end before it (413, gone)
_DATA, _END, _ABORT = b"d", b"e", b"a"
_PR_SET_PDEATHSIG = 1  # prctl(2)
_NICENESS = 10  # of the ingestion process and its children (nice(2))


@dataclass(frozen=True, slots=True)
class Job:
    """One upload as the request saw it: who, what format, what the query named, when."""

    principal: access.Principal
    media: str
    gzip: bool
    app: str | None
    env: str | None
    now: datetime


def ingest(
    database: databases.Database,
    settings: Settings,
    job: Job,
    body: IO[bytes] | receiving.ChunkedBody,
    *,
    authorise: Callable[[str], None],
) -> findings.Ingested:
    """Parse ``body`` (spooled, or arriving) as it is ingested. ``authorise(app)`` is called when only the
    body names the app, after its header is read and before any result is."""
    opener = _opener(body, gzip=job.gzip, limit=settings.max_body_bytes)
    read = uploadparsing.read_ndjson if job.media == NDJSON else uploadparsing.read_report
    upload = read(opener)
    header = upload.header
    for name, asked, found in (("app", job.app, header.app), ("env", job.env, header.env)):
        if asked is not None and asked != found:
            raise errors.Invalid(f"the query names {name} {asked!r}, the body {found!r}", field=name)
    if job.app is None:
        authorise(header.app)
    return findings.ingest_scan(
        database,
        app=header.app,
        env=header.env,
        results=upload.results,
        summary=header.summary,
        generated_at=header.generated_at,
        actor=job.principal.actor,
        now=job.now,
        sla_days=settings.sla_days,
        outbox=alerting.Outbox.of(
            settings.alert_targets, public_url=settings.public_url, categories=settings.alert_categories
        ),
        source=header.source,
    )


def _opener(body: IO[bytes] | receiving.ChunkedBody, *, gzip: bool, limit: int) -> Callable[[], IO[bytes]]:
    """Opens the body from its start, decoded: a spooled one as often as a parser needs to read it, one
    arriving once."""

    def open_stream() -> IO[bytes]:
        if body.seekable():
            body.seek(0)
        return io.BufferedReader(uploadparsing.DecodedReader(body, gzip=gzip, limit=limit), 1 << 16)

    return open_stream


@dataclass(frozen=True, slots=True)
class Done:
    outcome: findings.Ingested


@dataclass(frozen=True, slots=True)
class Problem:
    """A refusal, answered as the request process would have answered it."""

    status: int
    body: bytes

    def response(self) -> Response:
        return Response(self.body, status_code=self.status, media_type=problems.MEDIA_TYPE)


@dataclass(frozen=True, slots=True)
class Refused:
    """The caller may not upload for ``app`` (refused by the request process, which counts denials)."""

    app: str


@dataclass(frozen=True, slots=True)
class Failed:
    """Anything unforeseen (the traceback, for the request process's log)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Aborted:
    """The request process ended the body early; nothing was written."""


Answer = Done | Problem | Refused | Failed | Aborted


def can_fork(database: databases.Database) -> bool:
    """Whether a forked process reaches the same database (not an in-memory SQLite one)."""
    path = make_url(database.url).database or ""
    in_memory = database.dialect == "sqlite" and path in ("", ":memory:")
    return hasattr(os, "fork") and not in_memory


class Ingester:
    """The ingestion process of one application; ``upload`` is called from worker threads, one at a time.

    Writers stay serialised by the database itself (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
    PostgreSQL), and each ingestion is still one transaction with its audit record inside it.
    """

    def __init__(self, *, database: databases.Database, settings: Settings) -> None:
        self.database, self.settings = database, settings
        self._lock = threading.Lock()  # one upload at a time on the pipe
        self._conn: Connection | None = None
        self._process: Any = None

    @property
    def running(self) -> bool:
        return self._conn is not None

    def start(self) -> None:
        """Fork the ingestion process (call it before the application starts threads)."""
        # no pooled connection may cross the fork: the children open their own
        self.database.engine.dispose()
        context = multiprocessing.get_context("fork")
        ours, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=_serve,
            args=(theirs, self.database.url, self.database.audit, self.settings, os.getpid()),
            name="leitplanke-ingester",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._conn, self._process = ours, process

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if self._lock.acquire(timeout=30):  # an upload still running ends first
            try:
                if self._conn is not None:
                    with contextlib.suppress(OSError):
                        self._conn.send(None)
                    self._conn.close()
            finally:
                self._conn, self._process = None, None
                self._lock.release()
        process.join(timeout=10)
        if process.is_alive():
            process.kill()
            process.join()

    def upload(self, job: Job, wire: receiving.WireBody) -> Answer | None:
        """In a worker thread: the body streamed to the ingestion process, its answer; None when the
        process is not running (the caller ingests in this process instead)."""
        with self._lock:
            conn = self._conn
            if conn is None:
                return None
            try:
                conn.send(job)
                self._pump(conn, wire)
                answer: Answer = conn.recv()
            except (OSError, EOFError) as exc:  # the process is gone: later uploads are ingested here
                self._conn = None
                conn.close()
                _log.error("the ingestion process stopped answering (%s); ingesting in the server now", exc)
                return Failed(f"the ingestion process stopped answering: {exc}")
            if isinstance(answer, Failed) and answer.reason.startswith(_DIED):
                self._conn = None
                conn.close()
            return answer

    @staticmethod
    def _pump(conn: Connection, wire: receiving.WireBody) -> None:
        """Every chunk of the body onto the pipe; when reading it fails (413, the client gone), the
        process is told to give up, its acknowledgement read, and the failure raised."""
        try:
            while not wire.ended:
                chunk = wire.read_chunk()
                if chunk:
                    conn.send_bytes(_DATA + chunk)
        except (OSError, EOFError):
            raise
        except BaseException:
            conn.send_bytes(_ABORT)
            conn.recv()
            raise
        conn.send_bytes(_END)


_DIED = "the ingestion process ended"


class PipeBody(receiving.ChunkedBody):
    """The body as the request process frames it on the pipe (in the ingestion process)."""

    def __init__(self, conn: Connection) -> None:
        super().__init__()
        self.conn = conn

    def _chunk(self) -> bytes:
        frame = self.conn.recv_bytes()
        kind = frame[:1]
        if kind == _DATA:
            return frame[1:]
        self.ended = True
        if kind == _ABORT:
            raise _Aborting
        return b""


class _Aborting(Exception):
    """The request process ended the body early."""


class _Refusing(Exception):
    def __init__(self, app: str) -> None:
        super().__init__(app)
        self.app = app


def _die_with_parent(parent: int) -> None:
    """SIGKILL when the parent process ends (Linux): an ingestion never outlives the server that took
    the upload (a server killed mid-upload leaves nothing written, as when it ingested itself)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the EOF on the pipe ends the process instead
        pass
    if os.getppid() != parent:  # it ended before the signal was asked for
        os._exit(1)


def _serve(conn: Connection, url: str, audit: object, settings: Settings, server: int) -> None:
    """The ingestion process: a child per upload, until told to stop or the server is gone."""
    _die_with_parent(server)
    # batch work: on a busy machine the kernel gives the CPU to the server's requests first, so
    # health probes and list queries stay quick while an upload is parsed and ingested
    with contextlib.suppress(OSError):
        os.nice(_NICENESS)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops it (Ctrl-C reaches the whole group)
    signal.set_wakeup_fd(-1)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        ingester = os.getpid()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through the pipe and never returns
            code = 1
            try:
                _die_with_parent(ingester)
                _serve_one(conn, job, url=url, audit=audit, settings=settings)
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if status != 0:  # it may have died mid-stream: the pipe's state is unknown, so this process ends
            with contextlib.suppress(OSError):
                conn.send(Failed(f"{_DIED} with status {status}"))
            return


def _serve_one(conn: Connection, job: Job, *, url: str, audit: object, settings: Settings) -> None:
    body = PipeBody(conn)
    database = databases.Database(url, audit=audit)
    try:
        answer = _answer(database, settings, job, body)
    finally:
        database.dispose()
    conn.send(answer)


def _answer(database: databases.Database, settings: Settings, job: Job, body: PipeBody) -> Answer:
    try:
        source: IO[bytes] | PipeBody = body if job.media == NDJSON else _spooled(body)
        check = partial(_check_right, database, job.principal)
        return Done(ingest(database, settings, job, source, authorise=check))
    except _Aborting:
        return Aborted()
    except _Refusing as exc:
        answer: Answer = Refused(exc.app)
    except problems.Refusal as exc:
        answer = Problem(exc.status_code, bytes(exc.response().body))
    except errors.GovernanceError as exc:
        response = problems.governance_problem(exc)
        answer = Problem(response.status_code, bytes(response.body))
    except Exception:  # the edge of the ingestion process: answered as a 500, logged by the server
        answer = Failed(traceback.format_exc())
    try:
        body.drain()
    except _Aborting:
        return Aborted()
    return answer


def _spooled(body: PipeBody) -> IO[bytes]:
    """The old JSON report is read in several passes (its small fields first): spooled, to disk past 1 MiB."""
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115 - the process ends
    while chunk := body.read(1 << 16):
        spool.write(chunk)
    spool.seek(0)
    return spool


def _check_right(database: databases.Database, principal: access.Principal, app: str) -> None:
    """``uploads``' check of the right to upload, without the side effects of a refusal (which are the
    request process's: ``Refused``)."""
    owner = catalog.owner_of(database, app)
    if owner is None:
        raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
    if not authorising.authorise(principal, "scan.upload", authorising.for_app(app, owner)).allowed:
        raise _Refusing(app)
