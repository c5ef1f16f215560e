"""Applying the catalog: upsert teams, apps and environments, each change audited, in one transaction.

``apply_catalog`` stores a parsed file (``leitplanke catalog apply``, ``leitplanke db seed-demo``); the
``put_*`` use cases store one entity (the service's catalog routes).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leitplanke.catalog import changecontrols, entities
from leitplanke.governance import auditing, errors
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import App, Environment, Team


@dataclass(frozen=True, slots=True)
class Applied:
    created: int
    updated: int
    unchanged: int


def apply_catalog(database: Database, catalog: entities.Catalog, *, actor: str, now: datetime) -> Applied:
    """Upsert every entity (teams first, so that owners exist), in one transaction."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    with database.transaction() as session:
        chain = auditing.Chain(session)
        declared = {team.name for team in catalog.teams}
        for team in catalog.teams:
            counts[_put_team(session, chain, team, actor=actor, now=now)] += 1
        for app in catalog.apps:
            if app.owner not in declared and repositories.team_by_name(session, app.owner) is None:
                raise errors.Invalid(f"component {app.name!r}: no team {app.owner!r}", field="spec.owner")
            counts[_put_app(session, chain, app, actor=actor, now=now)] += 1
        for env in catalog.environments:
            counts[_put_environment(session, chain, env, actor=actor, now=now)] += 1
        chain.flush()
    return Applied(**counts)


def put_team(
    database: Database, spec: entities.TeamSpec, *, actor: str, now: datetime, must_be_new: bool = False
) -> str:
    """Create or update one entity ("created", "updated", "unchanged"); ``must_be_new``: create only."""
    with database.transaction() as session:
        chain = auditing.Chain(session)
        if must_be_new and repositories.team_by_name(session, spec.name) is not None:
            raise errors.Conflict(f"team {spec.name!r} exists already", field="name")
        outcome = _put_team(session, chain, spec, actor=actor, now=now)
        chain.flush()
    return outcome


def put_app(
    database: Database, spec: entities.AppSpec, *, actor: str, now: datetime, must_be_new: bool = False
) -> str:
    """Create or update one entity ("created", "updated", "unchanged"); ``must_be_new``: create only."""
    with database.transaction() as session:
        if repositories.team_by_name(session, spec.owner) is None:
            raise errors.Invalid(f"no team {spec.owner!r}", field="owner")
        chain = auditing.Chain(session)
        if must_be_new and repositories.app_by_name(session, spec.name) is not None:
            raise errors.Conflict(f"app {spec.name!r} exists already", field="name")
        outcome = _put_app(session, chain, spec, actor=actor, now=now)
        chain.flush()
    return outcome


def put_environment(
    database: Database,
    spec: entities.EnvironmentSpec,
    *,
    actor: str,
    now: datetime,
    must_be_new: bool = False,
    keep_change_control: bool = False,
) -> str:
    """Create or update one entity ("created", "updated", "unchanged"); ``must_be_new``: create only.
    ``keep_change_control``: an existing environment keeps its stored change control (an API ``PUT``
    that does not name one: a partial update never resets the approval rules silently)."""
    if spec.enforcement not in entities.ENFORCEMENT_MODES:
        raise errors.Invalid("use audit, warn or enforce", field="enforcement")
    with database.transaction() as session:
        chain = auditing.Chain(session)
        current = repositories.environment_by_name(session, spec.name)
        if must_be_new and current is not None:
            raise errors.Conflict(f"environment {spec.name!r} exists already", field="name")
        if keep_change_control and current is not None:
            spec = replace(spec, change_control=changecontrols.from_stored(current.change_control))
        outcome = _put_environment(session, chain, spec, actor=actor, now=now)
        chain.flush()
    return outcome


def _audit(
    chain: auditing.Chain, kind: str, name: str, outcome: str, spec: Any, *, actor: str, now: datetime
) -> None:
    chain.append(
        actor=actor, action=f"catalog.{kind}.{outcome}", target=f"{kind}:{name}", at=now, details=asdict(spec)
    )


def _put_team(
    session: Session, chain: auditing.Chain, spec: entities.TeamSpec, *, actor: str, now: datetime
) -> str:
    row = repositories.team_by_name(session, spec.name)
    if row is None:
        repositories.add(session, Team(name=spec.name, title=spec.title, created_at=now))
        outcome = "created"
    elif row.title == spec.title:
        return "unchanged"
    else:
        row.title = spec.title
        outcome = "updated"
    session.flush()
    _audit(chain, "team", spec.name, outcome, spec, actor=actor, now=now)
    return outcome


def _put_app(
    session: Session, chain: auditing.Chain, spec: entities.AppSpec, *, actor: str, now: datetime
) -> str:
    team = repositories.team_by_name(session, spec.owner)
    if team is None:
        raise errors.Invalid(f"no team {spec.owner!r}", field="owner")
    values = {
        "team_id": team.id,
        "value_stream": spec.value_stream,
        "lifecycle": spec.lifecycle,
        "cloud_native": spec.cloud_native,
        "repository": spec.repository,
    }
    row = repositories.app_by_name(session, spec.name)
    if row is None:
        repositories.add(session, App(name=spec.name, created_at=now, **values))
        outcome = "created"
    elif all(getattr(row, key) == value for key, value in values.items()):
        return "unchanged"
    else:
        for key, value in values.items():
            setattr(row, key, value)
        outcome = "updated"
    session.flush()
    _audit(chain, "app", spec.name, outcome, spec, actor=actor, now=now)
    return outcome


def _put_environment(
    session: Session, chain: auditing.Chain, spec: entities.EnvironmentSpec, *, actor: str, now: datetime
) -> str:
    row = repositories.environment_by_name(session, spec.name)
    control = spec.change_control.as_dict()
    if row is None:
        repositories.add(
            session,
            Environment(
                name=spec.name,
                enforcement=spec.enforcement,
                requires_approval=spec.requires_approval,
                change_control=control,
                created_at=now,
            ),
        )
        outcome = "created"
    elif (row.enforcement, row.requires_approval, row.change_control) == (
        spec.enforcement,
        spec.requires_approval,
        control,
    ):
        return "unchanged"
    else:
        row.enforcement, row.requires_approval = spec.enforcement, spec.requires_approval
        row.change_control = control
        outcome = "updated"
    session.flush()
    details = asdict(spec) | {"change_control": control}
    chain.append(
        actor=actor,
        action=f"catalog.environment.{outcome}",
        target=f"environment:{spec.name}",
        at=now,
        details=details,
    )
    return outcome
