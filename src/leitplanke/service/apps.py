"""``create_app(settings)``: the FastAPI application with its database, clock and metrics.

Nothing happens at import; the database is migrated when the application starts (if the settings
say so). Called by ``leitplanke serve`` and by the tests (in-process, through TestClient).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from fastapi.responses import RedirectResponse

from leitplanke import __version__
from leitplanke.alerts import HttpTransport, Transport
from leitplanke.governance import access, alerting, auditkeys, denials, relaying
from leitplanke.insights import historycaches
from leitplanke.service import (
    apidocs,
    changing,
    decisions,
    delivering,
    dispatching,
    dorafigures,
    ingesting,
    insightful,
    metrics,
    portal,
    problems,
    reportscheduling,
    routes,
    templating,
    uploads,
    waiving,
)
from leitplanke.service.contexts import Context
from leitplanke.settings import Settings
from leitplanke.store import databases

_log = logging.getLogger(__name__)
# how often the counts of closed denial windows are written (governance.denials)
DENIAL_FLUSH_SECONDS = 15.0
SWITCH_INTERVAL = 0.0005  # seconds
API_PREFIX = "/api/v1"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    database: databases.Database | None = None,
    clock: Callable[[], datetime] = _utc_now,
    alert_transport: Transport | None = None,
    denial_flush_seconds: float = DENIAL_FLUSH_SECONDS,
    ingestion_process: bool = True,
) -> FastAPI:
    """The application; with ``ingestion_process`` scan uploads are parsed and ingested in a forked
    process of their own (``service.ingesting``), else in a worker thread of the server's process."""
    db = (
        database
        if database is not None
        else databases.Database(settings.database_url, audit=_audit_keys(settings))
    )
    context = Context(
        settings=settings, database=db, clock=clock, metrics=metrics.Metrics(), denials=denials.DenialLog()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            databases.upgrade(db)
        # forked first, while this process has no other thread
        ingester = ingesting.Ingester(database=db, settings=settings) if ingestion_process else None
        if ingester is not None and ingesting.can_fork(db):
            ingester.start()
        app.state.ingester = ingester
        dispatcher = _dispatcher(settings, db, clock=clock, transport=alert_transport or HttpTransport())
        if dispatcher is not None:
            dispatcher.start()
        app.state.dispatcher = dispatcher
        scheduler = _scheduler(settings, db, clock=clock, transport=alert_transport or HttpTransport())
        if scheduler is not None:
            scheduler.start()
        app.state.report_scheduler = scheduler
        # applies a crash cut off between the Git push and the database: recorded before serving
        await asyncio.to_thread(changing.reconcile_on_start, context, app.state.changes)
        every = settings.waiver_expiry_seconds
        expiring = asyncio.create_task(waiving.expire_periodically(context, every=every))
        flushing = asyncio.create_task(_flush_denials_periodically(context, every=denial_flush_seconds))
        changes_expiring = asyncio.create_task(changing.expire_periodically(context, every=every))
        await asyncio.to_thread(prepare_routes, app.router.routes)
        app.state.insights_history = historycaches.HistoryCache()  # warmed in the background
        warming = asyncio.create_task(insightful.warm_periodically(context, app.state.insights_history))
        yield
        warming.cancel()
        changes_expiring.cancel()
        expiring.cancel()
        flushing.cancel()
        try:  # the counts of the windows still open: nothing counted is lost at shutdown
            context.denials.flush(db, now=clock(), everything=True)
        except Exception:  # the edge: shutdown goes on without the database
            _log.exception("denial counts could not be written at shutdown")
        if dispatcher is not None:
            dispatcher.stop()
        if scheduler is not None:
            scheduler.stop()
        if ingester is not None:
            ingester.stop()
        if database is None:  # ours to close; a database passed in belongs to the caller
            db.dispose()

    app = FastAPI(
        title="leitplanke",
        version=__version__,
        description="Governance service: catalog, findings with owners and SLAs, audit chain.",
        lifespan=lifespan,
        # served by service.apidocs from the package, not from a CDN
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    app.state.changes = changing.tools_for(settings)  # pre-flight policies and GitOps working copies
    problems.install(app)
    problems.declare(app, api_prefix=API_PREFIX)

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        """The address ``leitplanke serve`` prints leads to the API's documentation."""
        return RedirectResponse("/docs")

    app.include_router(
        apidocs.docs_router(title=app.title, openapi_url=app.openapi_url or "", assets=apidocs.load_assets())
    )
    app.include_router(routes.health_router())
    app.include_router(uploads.api_router(), prefix=API_PREFIX)
    app.include_router(routes.api_router(), prefix=API_PREFIX)
    app.include_router(waiving.api_router(), prefix=API_PREFIX)
    app.include_router(delivering.hooks_router())
    app.include_router(delivering.api_router(), prefix=API_PREFIX)
    app.include_router(dorafigures.api_router(), prefix=API_PREFIX)
    _install_delivery_metrics(app, context)
    app.include_router(templating.api_router(), prefix=API_PREFIX)
    app.include_router(changing.api_router(), prefix=API_PREFIX)
    portal.install(app)  # the web portal under /portal
    app.include_router(decisions.api_router(), prefix=API_PREFIX)
    app.include_router(insightful.api_router(), prefix=API_PREFIX)
    app.add_middleware(problems.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(
        problems.AnonymousBodies,
        prefix=API_PREFIX + "/",
        authenticate=lambda token: access.authenticate(db, token) is not None,
    )
    app.add_middleware(problems.NulInAddress)
    app.add_middleware(metrics.Measuring, metrics=context.metrics)
    return app


def prepare_routes(routes: Sequence[object]) -> int:
    """Build every included router's routes now; the route contexts built.

    FastAPI (0.16x) builds the routes of an included router (their dependencies and validators) on the
    first request that is matched against them: the first request to a route behind many routers paid
    for all of them (the scorecard's first call 200 to 500 ms beside 15 ms later, on both databases).
    Duck-typed: with a FastAPI that builds them eagerly there is nothing to call and nothing is done."""
    built = 0
    for route in routes:
        candidates = getattr(route, "effective_candidates", None)
        if callable(candidates):
            children = candidates()
            built += len(children) + prepare_routes(children)
        low = getattr(route, "effective_low_priority_routes", None)
        if callable(low):
            built += len(low())
    return built


def _install_delivery_metrics(app: FastAPI, context: Context) -> None:
    """The delivery events counter (``service.delivering``) and the DORA gauges on /metrics."""
    from prometheus_client import Counter

    registry = context.metrics.registry
    app.state.delivery_events = Counter(
        "leitplanke_delivery_events",
        "Delivery webhook events by source and outcome",
        ["source", "outcome"],
        registry=registry,
    )
    env = context.settings.dora_environment
    registry.register(dorafigures.DoraCollector(context.database, clock=context.clock, env=env))


async def _flush_denials_periodically(context: Context, *, every: float) -> None:
    """Write the counts of closed denial windows every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(context.denials.flush, context.database, now=context.clock())
        except Exception:  # the edge: a round that fails (database away) must not end the task
            _log.exception("denial counts could not be written; retrying in %s s", every)


def _dispatcher(
    settings: Settings, db: databases.Database, *, clock: Callable[[], datetime], transport: Transport
) -> dispatching.Dispatcher | None:
    """The alert dispatcher of the configured targets; none without targets."""
    if not settings.alert_targets:
        return None
    return dispatching.Dispatcher(
        db,
        targets=settings.alert_targets,
        outbox=alerting.Outbox.of(
            settings.alert_targets, public_url=settings.public_url, categories=settings.alert_categories
        ),
        transport=transport,
        clock=clock,
        retry=relaying.RetryPolicy(
            first_seconds=settings.alert_retry_seconds,
            max_seconds=settings.alert_retry_max_seconds,
            max_attempts=settings.alert_max_attempts,
        ),
        poll_seconds=settings.alert_poll_seconds,
        expiry_days=settings.alert_waiver_expiry_days,
    )


def _scheduler(
    settings: Settings, db: databases.Database, *, clock: Callable[[], datetime], transport: Transport
) -> reportscheduling.Scheduler | None:
    """The scheduler of the configured report schedules; none without schedules."""
    if not settings.report_schedules:
        return None
    from leitplanke.insights import costreports, kpis, mailing, prometheus, reportdelivering

    smtp = None
    if settings.smtp_server:
        host, _, port = settings.smtp_server.rpartition(":")
        smtp = mailing.Smtp(
            host, int(port), settings.smtp_starttls, settings.smtp_username, settings.smtp_password
        )
    cost = None
    if settings.prometheus_url:
        credentials = prometheus.Credentials(
            settings.prometheus_token, settings.prometheus_user, settings.prometheus_password
        )
        cost = costreports.Source(settings.prometheus_url, credentials)
    targets = kpis.default_kpis()
    if settings.kpi_file is not None:
        text = settings.kpi_file.read_text(encoding="utf-8")
        parsed, problems = kpis.parse_targets(text, file=str(settings.kpi_file))
        if problems:  # as the scorecard route does, the service runs on; the reports use the defaults
            _log.error("scheduled reports use the built-in KPI targets: %s", problems[0].render())
        else:
            targets = parsed
    delivery = reportdelivering.Delivery(
        smtp=smtp,
        mail_from=settings.mail_from,
        transport=transport,
        kpis=targets,
        sla_days=settings.sla_days,
        cost=cost,
    )
    outbox = None
    if settings.alert_targets:
        outbox = alerting.Outbox.of(settings.alert_targets, public_url=settings.public_url)
    return reportscheduling.Scheduler(
        db,
        schedules=settings.report_schedules,
        delivery=delivery,
        clock=clock,
        policy=reportscheduling.policy_of(
            lateness=settings.report_lateness_seconds,
            retry=settings.report_retry_seconds,
            max_attempts=settings.report_max_attempts,
        ),
        poll_seconds=settings.report_poll_seconds,
        outbox=outbox,
    )


def _audit_keys(settings: Settings) -> auditkeys.AuditKeys:
    """The audit chain's keys from the files the settings name (created on first use)."""
    return auditkeys.load_audit_keys(
        key_file=settings.audit_key_file,
        signing_key_file=settings.audit_signing_key_file,
        checkpoint_dir=settings.audit_checkpoint_dir,
    )


def create_app_from_environment() -> FastAPI:
    """The application on the settings of the environment: Uvicorn's factory for ``leitplanke serve``
    (``cli`` and ``service`` are sibling layers, so the command names this by its import string)."""
    from leitplanke.settings import load_settings

    app = create_app(load_settings())
    _tune_for_serving()
    return app


def _tune_for_serving() -> None:
    """Keep the event loop's answers quick while worker threads parse and ingest uploads (the server
    process only: these settings belong to the whole process)."""
    # what the process holds by now lives as long as it: full collections during an upload (which hold
    # the GIL, so the event loop too) then scan only what comes after
    gc.collect()
    gc.freeze()
    # the event loop waits for the GIL after every system call, at most this long (5 ms by default),
    # which adds up to 100 ms and more per request while a worker thread runs Python code
    sys.setswitchinterval(SWITCH_INTERVAL)
