"""Scaffolding an application from a template: validate, render, pre-flight, and its catalog entry.

The one use case behind ``leitplanke templates render`` and ``POST /api/v1/templates/{name}/render``
(and the portal's form): nothing is stored here; ``catalog_entry`` is what registering the new
app stores (through ``catalog.applying.put_app``) once the change is submitted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2

from leitplanke.catalog import entities, parametervalidating, preflighting, templatelibrary, templating
from leitplanke.catalog.parametervalidating import ParameterError

# a DNS-1123 label short enough that every object name a template derives from it (the app's
# name plus a suffix such as -default-deny) stays within 63 characters
_NAME = re.compile(r"^[a-z]([-a-z0-9]{0,38}[a-z0-9])?$")
# a label value: team, environment and value stream are written into labels
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
_RESERVED = ("default", "kube-system", "kube-public", "kube-node-lease")
PRODUCTION = ("production", "prod")


@dataclass(frozen=True, slots=True)
class Target:
    """Where the rendered app goes: its name, owning team, environment and namespace."""

    app: str
    team: str
    environment: str
    namespace: str = ""  # "" means the app's name
    value_stream: str = ""

    @property
    def namespace_or_app(self) -> str:
        return self.namespace or self.app


@dataclass(slots=True)
class Scaffold:
    """What rendering gave: the values used (defaults filled in), the manifests, the pre-flight,
    or the errors (each with its field path) that kept it from rendering."""

    template: str
    target: Target
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[ParameterError] = field(default_factory=list)
    files: list[templating.RenderedFile] = field(default_factory=list)
    preflight: preflighting.Preflight | None = None

    @property
    def valid(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        """The API's answer (and the CLI's JSON): manifests, pre-flight results and errors."""
        preflight = self.preflight
        return {
            "template": self.template,
            "app": self.target.app,
            "team": self.target.team,
            "environment": self.target.environment,
            "namespace": self.target.namespace_or_app,
            "values": self.values,
            "errors": [e.as_dict() for e in self.errors],
            "manifests": [{"file": f.name, "content": f.text} for f in self.files],
            "preflight": None
            if preflight is None
            else {
                "mode": preflight.mode,
                "outcome": preflight.outcome,
                "allowed": preflight.allowed,
                "policies": preflight.policies,
                "failing": [preflighting.result_dict(r) for r in preflight.failing],
                "warnings": [preflighting.result_dict(r) for r in preflight.warnings],
                "problems": [p.render() for p in preflight.problems],
            },
        }


def check_target(target: Target) -> list[ParameterError]:
    """The target's names: the app and namespace are DNS labels object names derive from; team,
    environment and value stream are label values."""
    errors = []
    names = {"app": target.app, "namespace": target.namespace}
    for key, value in names.items():
        if key == "namespace" and not value:
            continue
        if not isinstance(value, str) or not _NAME.fullmatch(value):
            message = "a lowercase DNS label of at most 40 characters (a-z, 0-9, -), starting with a letter"
            errors.append(ParameterError(key, "target-name", message))
        elif value in _RESERVED:
            errors.append(ParameterError(key, "target-reserved", f"{value!r} is reserved"))
    labels = {"team": target.team, "environment": target.environment, "valueStream": target.value_stream}
    for key, value in labels.items():
        if key == "valueStream" and not value:
            continue
        if not isinstance(value, str) or not _LABEL_VALUE.fullmatch(value):
            message = "a label value: at most 63 letters, digits, '-', '_' or '.', alphanumeric at both ends"
            errors.append(ParameterError(key, "target-label", message))
    return errors


def render(
    template: templatelibrary.Template,
    *,
    values: Mapping[str, Any],
    target: Target,
    environment: jinja2.Environment,
) -> Scaffold:
    """Validate ``values`` (over the schema's defaults) and ``target``, and render the manifests;
    with errors nothing is rendered."""
    result = Scaffold(template=template.name, target=target)
    if not isinstance(values, Mapping):
        result.errors.append(ParameterError("$", "parameter-type", "must be of type object"))
        return result
    result.values = parametervalidating.with_defaults(template.parameters, values)
    result.errors = check_target(target) + parametervalidating.validate(template.parameters, result.values)
    if result.errors:
        return result
    result.files = templating.render_files(
        environment, template.manifests, values=_context(template, target, result.values)
    )
    return result


def scaffold(
    template: templatelibrary.Template,
    *,
    values: Mapping[str, Any],
    target: Target,
    mode: str,
    checker: preflighting.Checker,
    environment: jinja2.Environment,
    now: datetime,
) -> Scaffold:
    """``render``, then the pre-flight of the rendered manifests in the target environment's ``mode``."""
    result = render(template, values=values, target=target, environment=environment)
    if result.valid:
        result.preflight = checker.check(result.files, mode=mode, environment=target.environment, now=now)
    return result


def _context(template: templatelibrary.Template, target: Target, values: Mapping[str, Any]) -> dict[str, Any]:
    """What a manifest file sees: the target and ``params`` (the validated values)."""
    return {
        "app": target.app,
        "team": target.team,
        "environment": target.environment,
        "namespace": target.namespace_or_app,
        "value_stream": target.value_stream,
        "production": target.environment in PRODUCTION,
        "template": template.name,
        "params": values,
        # the labels every object carries (recommended Kubernetes labels, owner, environment)
        # and the ones a workload's pods are selected by; templates add component and version
        "labels": {
            "app.kubernetes.io/name": target.app,
            "app.kubernetes.io/instance": target.app,
            "app.kubernetes.io/part-of": target.value_stream or target.app,
            "app.kubernetes.io/managed-by": "leitplanke",
            "team": target.team,
            "env": target.environment,
        },
        "selector": {"app.kubernetes.io/name": target.app, "app.kubernetes.io/instance": target.app},
    }


def catalog_entry(target: Target, *, repository: str = "") -> entities.AppSpec:
    """The catalog entry registering the scaffolded app: its owner team and value stream (the
    portal or the change flow stores it with ``catalog.applying.put_app``)."""
    return entities.AppSpec(
        name=target.app,
        owner=target.team,
        value_stream=target.value_stream,
        lifecycle="experimental" if target.environment not in PRODUCTION else "production",
        cloud_native=True,
        repository=repository,
    )
