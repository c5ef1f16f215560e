"""``create_app(settings)``: the FastAPI application with its database, clock and metrics.

Nothing happens at import; the database is migrated when the application starts (if the settings
say so). Called by ``leitplanke serve`` and by the tests (in-process, through TestClient).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI

from leitplanke import __version__
from leitplanke.service import metrics, problems, routes
from leitplanke.service.contexts import Context
from leitplanke.settings import Settings
from leitplanke.store import databases


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    database: databases.Database | None = None,
    clock: Callable[[], datetime] = _utc_now,
) -> FastAPI:
    db = database if database is not None else databases.Database(settings.database_url)
    context = Context(settings=settings, database=db, clock=clock, metrics=metrics.Metrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            databases.upgrade(db)
        yield
        if database is None:  # ours to close; a database passed in belongs to the caller
            db.dispose()

    app = FastAPI(
        title="leitplanke",
        version=__version__,
        description="Governance service: catalog, findings with owners and SLAs, audit chain.",
        lifespan=lifespan,
    )
    app.state.context = context
    problems.install(app)
    app.include_router(routes.health_router())
    app.include_router(routes.api_router(), prefix="/api/v1")
    app.add_middleware(problems.BodyLimit, limit=settings.max_body_bytes)
    app.add_middleware(metrics.Measuring, metrics=context.metrics)
    return app


def create_app_from_environment() -> FastAPI:
    """The application on the settings of the environment: Uvicorn's factory for ``leitplanke serve``
    (``cli`` and ``service`` are sibling layers, so the command names this by its import string)."""
    from leitplanke.settings import load_settings

    return create_app(load_settings())
