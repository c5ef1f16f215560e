"""The catalog: teams, applications and environments, from a Backstage-like file or the API.

``parse_catalog`` is pure (text → entities and problems); ``apply_catalog`` and the ``put_*`` use
cases upsert in one transaction and audit every change. Called by ``leitplanke catalog apply`` and
the service's catalog routes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import yaml
from sqlalchemy.orm import Session

from leitplanke.core.problems import Problem
from leitplanke.governance import auditing, errors
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import App, Environment, Team

ENFORCEMENT_MODES = ("audit", "warn", "enforce")
CLOUD_NATIVE = "leitplanke.dev/cloud-native"
REPOSITORY_ANNOTATIONS = (
    "leitplanke.dev/repository",
    "backstage.io/source-location",
    "github.com/project-slug",
)


@dataclass(frozen=True, slots=True)
class TeamSpec:
    name: str
    title: str = ""


@dataclass(frozen=True, slots=True)
class AppSpec:
    name: str
    owner: str
    value_stream: str = ""
    lifecycle: str = ""
    cloud_native: bool = True
    repository: str = ""


@dataclass(frozen=True, slots=True)
class EnvironmentSpec:
    name: str
    enforcement: str = "audit"
    requires_approval: bool = False


@dataclass(slots=True)
class Catalog:
    teams: list[TeamSpec] = field(default_factory=list)
    apps: list[AppSpec] = field(default_factory=list)
    environments: list[EnvironmentSpec] = field(default_factory=list)


def parse_catalog(text: str, *, file: str = "<catalog>") -> tuple[Catalog, list[Problem]]:
    """Entities of kind Group, Component and Environment; everything wrong, each with its field."""
    catalog, problems = Catalog(), []
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        return catalog, [Problem(file, line, "catalog-yaml", f"not valid YAML: {exc}")]
    for index, document in enumerate(documents):
        if document is None:
            continue
        where = f"[{index}]"
        if not isinstance(document, Mapping):
            problems.append(Problem(file, 0, "catalog-entity", "an entity is a mapping", field=where))
            continue
        kind = document.get("kind")
        meta, spec = _mapping(document.get("metadata")), _mapping(document.get("spec"))
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            problems.append(
                Problem(file, 0, "catalog-name", "metadata.name is required", f"{where}.metadata.name")
            )
            continue
        if kind == "Group":
            catalog.teams.append(
                TeamSpec(
                    name=name,
                    title=str(meta.get("title") or _mapping(spec.get("profile")).get("displayName") or ""),
                )
            )
        elif kind == "Component":
            _parse_component(name, meta, spec, where=where, file=file, catalog=catalog, problems=problems)
        elif kind == "Environment":
            _parse_environment(name, spec, where=where, file=file, catalog=catalog, problems=problems)
        elif kind in ("System", "Domain", "API", "Resource", "User", "Location"):
            continue  # Backstage kinds the governance service does not keep
        else:
            problems.append(Problem(file, 0, "catalog-kind", f"unknown kind {kind!r}", f"{where}.kind"))
    return catalog, problems


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _parse_component(
    name: str,
    meta: Mapping[str, Any],
    spec: Mapping[str, Any],
    *,
    where: str,
    file: str,
    catalog: Catalog,
    problems: list[Problem],
) -> None:
    owner = spec.get("owner")
    if not isinstance(owner, str) or not owner:
        problems.append(Problem(file, 0, "catalog-owner", "spec.owner is required", f"{where}.spec.owner"))
        return
    annotations = _mapping(meta.get("annotations"))
    native = str(annotations.get(CLOUD_NATIVE, "true")).lower()
    if native not in ("true", "false"):
        field_name = f"{where}.metadata.annotations.{CLOUD_NATIVE}"
        problems.append(Problem(file, 0, "catalog-cloud-native", "use 'true' or 'false'", field_name))
        return
    repository = next((str(annotations[k]) for k in REPOSITORY_ANNOTATIONS if k in annotations), "")
    catalog.apps.append(
        AppSpec(
            name=name,
            owner=owner.removeprefix("group:").removeprefix("default/"),
            value_stream=str(spec.get("system") or ""),
            lifecycle=str(spec.get("lifecycle") or ""),
            cloud_native=native == "true",
            repository=repository.removeprefix("url:"),
        )
    )


def _parse_environment(
    name: str, spec: Mapping[str, Any], *, where: str, file: str, catalog: Catalog, problems: list[Problem]
) -> None:
    enforcement = spec.get("enforcement", "audit")
    if enforcement not in ENFORCEMENT_MODES:
        problems.append(
            Problem(file, 0, "catalog-enforcement", "use audit, warn or enforce", f"{where}.spec.enforcement")
        )
        return
    approval = spec.get("requiresApproval", False)
    if not isinstance(approval, bool):
        problems.append(
            Problem(file, 0, "catalog-approval", "true or false", f"{where}.spec.requiresApproval")
        )
        return
    catalog.environments.append(
        EnvironmentSpec(name=name, enforcement=enforcement, requires_approval=approval)
    )


# --- use cases -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Applied:
    created: int
    updated: int
    unchanged: int


def apply_catalog(database: Database, catalog: Catalog, *, actor: str, now: datetime) -> Applied:
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
    database: Database, spec: TeamSpec, *, actor: str, now: datetime, must_be_new: bool = False
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
    database: Database, spec: AppSpec, *, actor: str, now: datetime, must_be_new: bool = False
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
    database: Database, spec: EnvironmentSpec, *, actor: str, now: datetime, must_be_new: bool = False
) -> str:
    """Create or update one entity ("created", "updated", "unchanged"); ``must_be_new``: create only."""
    if spec.enforcement not in ENFORCEMENT_MODES:
        raise errors.Invalid("use audit, warn or enforce", field="enforcement")
    with database.transaction() as session:
        chain = auditing.Chain(session)
        if must_be_new and repositories.environment_by_name(session, spec.name) is not None:
            raise errors.Conflict(f"environment {spec.name!r} exists already", field="name")
        outcome = _put_environment(session, chain, spec, actor=actor, now=now)
        chain.flush()
    return outcome


def _audit(
    chain: auditing.Chain, kind: str, name: str, outcome: str, spec: Any, *, actor: str, now: datetime
) -> None:
    chain.append(
        actor=actor, action=f"catalog.{kind}.{outcome}", target=f"{kind}:{name}", at=now, details=asdict(spec)
    )


def _put_team(session: Session, chain: auditing.Chain, spec: TeamSpec, *, actor: str, now: datetime) -> str:
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


def _put_app(session: Session, chain: auditing.Chain, spec: AppSpec, *, actor: str, now: datetime) -> str:
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
    session: Session, chain: auditing.Chain, spec: EnvironmentSpec, *, actor: str, now: datetime
) -> str:
    row = repositories.environment_by_name(session, spec.name)
    if row is None:
        repositories.add(
            session,
            Environment(
                name=spec.name,
                enforcement=spec.enforcement,
                requires_approval=spec.requires_approval,
                created_at=now,
            ),
        )
        outcome = "created"
    elif (row.enforcement, row.requires_approval) == (spec.enforcement, spec.requires_approval):
        return "unchanged"
    else:
        row.enforcement, row.requires_approval = spec.enforcement, spec.requires_approval
        outcome = "updated"
    session.flush()
    _audit(chain, "environment", spec.name, outcome, spec, actor=actor, now=now)
    return outcome


def owner_of(database: Database, app: str) -> str | None:
    """The owning team of ``app``, or None when the catalog does not know it."""
    with database.reading() as session:
        return repositories.app_owner(session, app)


def snapshot(database: Database) -> dict[str, Sequence[dict[str, Any]]]:
    """Teams, apps (with their owner) and environments as plain values, for the API and the CLI."""
    with database.reading() as session:
        return {
            "teams": [{"name": t.name, "title": t.title} for t in repositories.list_teams(session)],
            "apps": [_app_dict(app, team) for app, team in repositories.list_apps(session)],
            "environments": [
                {"name": e.name, "enforcement": e.enforcement, "requiresApproval": e.requires_approval}
                for e in repositories.list_environments(session)
            ],
        }


def _app_dict(app: App, team: str) -> dict[str, Any]:
    return {
        "name": app.name,
        "owner": team,
        "valueStream": app.value_stream,
        "lifecycle": app.lifecycle,
        "cloudNative": app.cloud_native,
        "repository": app.repository,
    }
