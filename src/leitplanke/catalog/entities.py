"""The catalog's entities: teams, applications and environments, read from a Backstage-like file.

``parse_catalog`` is pure (text → entities and problems); ``catalog.applying`` stores what it
returns. Parsed for ``leitplanke catalog apply`` and ``leitplanke db seed-demo``; the service's
routes build the same values from request bodies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from leitplanke.catalog import changecontrols
from leitplanke.core.problems import Problem

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
    # approval rules, sync windows, failure mode and GitOps target of change requests (``delivery``)
    change_control: changecontrols.ChangeControl = field(default_factory=changecontrols.ChangeControl)


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
    control, wrong = changecontrols.parse_change_control(
        spec.get("changeControl"), where=f"{where}.spec.changeControl", file=file
    )
    if wrong:
        problems.extend(wrong)
        return
    catalog.environments.append(
        EnvironmentSpec(
            name=name, enforcement=enforcement, requires_approval=approval, change_control=control
        )
    )
