"""Incidents: opened and resolved through the API or by Alertmanager, each attributed to the deployment
that was live when it opened (what makes that deployment a failed change).

Called by ``service.delivering``, the demo seed and tests. One transaction per use case with its audit
record inside; a notification delivered twice (the same ``key``) is one incident.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from leitplanke.delivery.deliveryevents import IncidentEvent
from leitplanke.governance import auditing, errors
from leitplanke.store import deliveries, repositories
from leitplanke.store.databases import Database
from leitplanke.store.deliveryrows import Incident
from leitplanke.store.rows import App, Environment

OPENED, RESOLVED, UNCHANGED = "opened", "resolved", "unchanged"


@dataclass(frozen=True, slots=True)
class IncidentView:
    id: int
    key: str
    app: str
    env: str
    title: str
    source: str
    opened_at: datetime
    resolved_at: datetime | None
    deployment_id: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str  # opened | resolved | unchanged (and "opened" with resolved_at for one seen resolved)
    incident: IncidentView


def _view(row: Incident, app: str, env: str) -> IncidentView:
    return IncidentView(
        id=row.id,
        key=row.key,
        app=app,
        env=env,
        title=row.title,
        source=row.source,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        deployment_id=row.deployment_id,
    )


def record_incident(
    database: Database, event: IncidentEvent, *, source: str, actor: str, now: datetime
) -> Outcome:
    """Open the incident of ``event`` (resolved at once when the event says so), or resolve the open
    incident of the same key; anything else changes nothing."""
    if event.resolved_at is not None and event.resolved_at < event.opened_at:
        raise errors.Invalid("an incident cannot be resolved before it opened", field="resolvedAt")
    with database.transaction() as session:
        app_id, env_id = _scope(session, event.app, event.env)
        row = deliveries.incident_by_key(session, event.key)
        if row is None:
            live = deliveries.last_succeeded(session, app_id=app_id, env_id=env_id, before=event.opened_at)
            row = Incident(
                key=event.key,
                app_id=app_id,
                env_id=env_id,
                title=event.title,
                source=source,
                opened_at=event.opened_at,
                resolved_at=event.resolved_at,
                deployment_id=None if live is None else live.id,
            )
            session.add(row)
            session.flush()
            _audit(session, row, event.app, event.env, action="incident.opened", actor=actor, now=now)
            return Outcome(OPENED, _view(row, event.app, event.env))
        if (row.app_id, row.env_id) != (app_id, env_id):
            raise errors.Conflict(f"incident key {event.key!r} belongs to another app or env", field="key")
        if event.resolved_at is None or row.resolved_at is not None:
            return Outcome(UNCHANGED, _view(row, event.app, event.env))
        row.resolved_at = max(event.resolved_at, row.opened_at)
        session.flush()
        _audit(session, row, event.app, event.env, action="incident.resolved", actor=actor, now=now)
        return Outcome(RESOLVED, _view(row, event.app, event.env))


def resolve_incident(
    database: Database, incident_id: int, *, resolved_at: datetime, actor: str, now: datetime
) -> IncidentView:
    """Resolve an open incident (409 when it is resolved already, 422 for a time before it opened)."""
    with database.transaction() as session:
        row = session.get(Incident, incident_id)
        if row is None:
            raise errors.NotFound(f"no incident {incident_id}", field="id")
        if row.resolved_at is not None:
            raise errors.Conflict(f"incident {incident_id} is resolved already")
        if resolved_at < row.opened_at:
            raise errors.Invalid("an incident cannot be resolved before it opened", field="resolvedAt")
        row.resolved_at = resolved_at
        session.flush()
        app, env = _names(session, row)
        _audit(session, row, app, env, action="incident.resolved", actor=actor, now=now)
        return _view(row, app, env)


def get_incident(database: Database, incident_id: int) -> tuple[IncidentView, str]:
    """The incident and its app's owning team."""
    with database.reading() as session:
        row = session.get(Incident, incident_id)
        if row is None:
            raise errors.NotFound(f"no incident {incident_id}", field="id")
        app, env = _names(session, row)
        owner = repositories.app_owner(session, app) or ""
        return _view(row, app, env), owner


def list_incidents(
    database: Database, scope: deliveries.Scope, *, env: str | None, open_only: bool, limit: int
) -> list[IncidentView]:
    with database.reading() as session:
        found = deliveries.list_incidents(session, scope, env=env, open_only=open_only, limit=limit)
        return [_view(row, app, env_name) for row, app, env_name in found]


def _scope(session: Session, app: str, env: str) -> tuple[int, int]:
    app_row = repositories.app_by_name(session, app)
    if app_row is None:
        raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
    env_row = repositories.environment_by_name(session, env)
    if env_row is None:
        raise errors.NotFound(f"no environment {env!r} in the catalog", field="env")
    return app_row.id, env_row.id


def _names(session: Session, row: Incident) -> tuple[str, str]:
    app = session.get(App, row.app_id)
    env = session.get(Environment, row.env_id)
    assert app is not None and env is not None  # foreign keys
    return app.name, env.name


def _audit(
    session: Session, row: Incident, app: str, env: str, *, action: str, actor: str, now: datetime
) -> None:
    chain = auditing.Chain(session)
    details = {
        "app": app,
        "env": env,
        "title": row.title,
        "source": row.source,
        "openedAt": auditing.format_time(row.opened_at),
        "resolvedAt": None if row.resolved_at is None else auditing.format_time(row.resolved_at),
        "deployment": row.deployment_id,
    }
    chain.append(actor=actor, action=action, target=f"incident:{row.id}", at=now, details=details)
    chain.flush()
