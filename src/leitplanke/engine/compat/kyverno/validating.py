"""Evaluating one Kyverno validate rule against one resource: context, preconditions, then
pattern, anyPattern, deny, foreach, podSecurity or cel.

Called by ``compat.kyverno.clusterpolicies`` once per matching rule; every outcome is a value (pass, fail,
skip or error with a message), never an exception.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.engine import cel
from leitplanke.engine.compat.kyverno import (
    conditions,
    images,
    patterns,
    pointers,
    resourcefilters,
    substituting,
)
from leitplanke.engine.compat.kyverno.resourcefilters import Request


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    verdict: str  # pass | fail | skip | error
    message: str = ""
    path: str = ""  # of a failure: the document path of the failing field (``pointers``)


@dataclass(frozen=True, slots=True)
class CompiledCel:
    """A ``validate.cel`` block compiled in its own environment (it declares ``variables``)."""

    environment: cel.Environment
    variables: tuple[tuple[str, cel.Program], ...]
    expressions: tuple[tuple[cel.Program, str, cel.Program | None], ...]
    preconditions: tuple[cel.Program, ...] = ()


@dataclass(frozen=True, slots=True)
class KyvernoRule:
    name: str
    match: Mapping[str, Any] | None
    exclude: Mapping[str, Any] | None
    context: tuple[Mapping[str, Any], ...]
    preconditions: Any
    validate: Mapping[str, Any]
    unsupported: str = ""
    cel: CompiledCel | None = None
    autogen: str = ""  # "", "controllers" or "cronjob": which pod spec podSecurity reads


# checks the podSecurity backend runs: (resource body, level, excluded control names, version of
# the standard: "latest" or "v1.N") → failures
PodSecurityCheck = Callable[[Mapping[str, Any], str, Sequence[Mapping[str, Any]], str], list[str]]


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What a rule needs beyond the resource: the request and the podSecurity backend."""

    request: Request = field(default_factory=Request)
    pod_security: PodSecurityCheck | None = None
    policy_values: Mapping[str, Any] = field(default_factory=dict)


# the document path of what a check looks at, asked for only when the check fails
Base = Callable[[], str | None]


def _document() -> str:
    return ""


def build_data(body: Mapping[str, Any], request: Request) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    namespace = str(meta.get("namespace", "") or "")
    data: dict[str, Any] = {
        "request": {
            "object": body,
            "oldObject": request.old_object,
            "operation": request.operation,
            "userInfo": request.user_info(),
            "roles": list(request.roles),
            "clusterRoles": list(request.cluster_roles),
            "namespace": namespace,
            "name": meta.get("name", ""),
            "kind": {"kind": body.get("kind", "")},
        },
        "images": images.images_of(body),
    }
    username = request.username
    if username.startswith("system:serviceaccount:"):
        parts = username.split(":")
        data["serviceAccountNamespace"], data["serviceAccountName"] = parts[2], parts[3]
    for key, value in request.values.items():
        set_path(data, str(key), value)
    return data


def set_path(data: dict[str, Any], dotted: str, value: Any) -> None:
    node = data
    parts = dotted.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {} if child is None else dict(child) if isinstance(child, Mapping) else {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def load_context(
    entries: Sequence[Mapping[str, Any]], data: dict[str, Any], provided: Mapping[str, Any]
) -> None:
    """Add ``variable`` context entries to ``data``; raises VariableError for other types."""
    for entry in entries:
        name = str(entry.get("name", ""))
        if name in provided:
            continue
        spec = entry.get("variable")
        if not isinstance(spec, Mapping):
            kinds = sorted(k for k in entry if k != "name")
            raise substituting.VariableError(
                f"context entry {name!r} of type {kinds} is not supported offline"
            )
        value: Any = None
        try:
            if "value" in spec:
                value = substituting.substitute(spec["value"], data)
            if spec.get("jmesPath"):
                path = substituting.substitute(str(spec["jmesPath"]), data)
                value = substituting.search(str(path), value if "value" in spec else data)
        except substituting.VariableError:
            if "default" not in spec:
                raise
            value = None
        if value is None and "default" in spec:
            value = substituting.substitute(spec["default"], data)
        set_path(data, name, value)


def evaluate_rule(rule: KyvernoRule, body: Mapping[str, Any], evaluation: Evaluation) -> RuleOutcome:
    if rule.unsupported:
        return RuleOutcome("error", rule.unsupported)
    data = build_data(body, evaluation.request)
    for key, value in evaluation.policy_values.items():
        set_path(data, str(key), value)
    try:
        load_context(rule.context, data, evaluation.policy_values)
        if rule.preconditions is not None and not conditions.evaluate(rule.preconditions, data):
            return RuleOutcome("skip", "preconditions not met")
        return _validate(rule, rule.validate, body, data, evaluation)
    except substituting.VariableError as exc:
        return RuleOutcome("error", str(exc))
    except conditions.ConditionError as exc:
        return RuleOutcome("error", str(exc))


def _message(validate: Mapping[str, Any], data: Mapping[str, Any], detail: str) -> str:
    text = validate.get("message")
    if not isinstance(text, str):
        return detail
    try:
        rendered = substituting.substitute(text, data, lenient=True)
    except substituting.VariableError:
        rendered = text
    return f"{rendered} {detail}".strip() if detail else str(rendered)


def _validate(
    rule: KyvernoRule,
    validate: Mapping[str, Any],
    body: Mapping[str, Any],
    data: dict[str, Any],
    ev: Evaluation,
) -> RuleOutcome:
    if validate.get("foreach") is not None:
        outcome = _foreach(validate["foreach"], body, data, nesting=0, base=_document, body=body)
        if outcome.verdict == "fail":
            return RuleOutcome("fail", _message(validate, data, outcome.message), outcome.path)
        return outcome
    if "podSecurity" in validate:
        return _pod_security(rule, validate["podSecurity"] or {}, body, ev)
    if "cel" in validate:
        if rule.cel is None:
            return RuleOutcome("error", "the cel block could not be compiled")
        return evaluate_cel(rule.cel, body, ev.request)
    outcome = _check(validate, body, data, base=_document)
    if outcome.verdict == "fail":
        return RuleOutcome("fail", _message(validate, data, outcome.message), outcome.path)
    return outcome


def _check(validate: Mapping[str, Any], resource: Any, data: Mapping[str, Any], *, base: Base) -> RuleOutcome:
    """pattern, anyPattern or deny against ``resource``, whose document path ``base`` gives
    (asked only on a failure; None when it is not part of the document: the failure then
    points at the document)."""

    def located(pointer: str) -> str:
        where = base()
        return "" if where is None else pointers.document_path(pointer, resource, base=where)

    if "pattern" in validate:
        pattern = _substituted(validate["pattern"], data)
        found = patterns.match_pattern(resource, pattern)
        return RuleOutcome(found.verdict, found.message, located(found.path))
    if "anyPattern" in validate:
        alternatives = _substituted(validate["anyPattern"], data)
        if not isinstance(alternatives, list):
            return RuleOutcome("error", "anyPattern must be a list")
        results = [patterns.match_pattern(resource, p) for p in alternatives]
        if any(r.verdict == "pass" for r in results):
            return RuleOutcome("pass")
        failed = [r for r in results if r.verdict == "fail"]
        if failed:
            return RuleOutcome("fail", "; ".join(r.message for r in failed), located(failed[0].path))
        return RuleOutcome("skip", "; ".join(r.message for r in results))
    if "deny" in validate:
        deny = validate["deny"] or {}
        if conditions.evaluate(deny.get("conditions"), data):
            return RuleOutcome("fail", "denied", base() or "")
        return RuleOutcome("pass")
    return RuleOutcome(
        "error", "the rule has no supported validation (pattern, anyPattern, deny, foreach, cel)"
    )


def _substituted(value: Any, data: Mapping[str, Any]) -> Any:
    return substituting.substitute(value, data) if substituting.has_references(value) else value


def _foreach_list(expression: str, data: Mapping[str, Any]) -> Any:
    text = expression.strip()
    if text.startswith("{{") and text.endswith("}}") and text.count("{{") == 1:
        text = text[2:-2].strip()
    elif "{{" in text:
        text = str(substituting.substitute(text, data))
    return substituting.search(text, data)


def _foreach(
    entries: Any, resource: Any, data: dict[str, Any], *, nesting: int, base: Base, body: Any
) -> RuleOutcome:
    """Each entry's list, element by element; ``resource`` (at ``base`` in ``body``) is what an
    element out of scope is checked against."""
    if not isinstance(entries, list):
        return RuleOutcome("error", "foreach must be a list")
    applied = 0
    for entry in entries:
        try:
            elements = _foreach_list(str(entry.get("list", "")), data)
        except substituting.VariableError:
            continue
        if elements is None:
            continue
        if not isinstance(elements, list):
            return RuleOutcome("error", f"foreach list {entry.get('list')!r} is not a list")
        for index, element in enumerate(elements):
            place = pointers.ElementPlace(element, index, elements, body)
            outcome = _element(entry, element, index, resource, data, nesting=nesting, base=base, place=place)
            if outcome.verdict in ("fail", "error"):
                return outcome
            if outcome.verdict == "pass":
                applied += 1
    return RuleOutcome("pass") if applied else RuleOutcome("skip", "no foreach element applied")


def _element(
    entry: Mapping[str, Any],
    element: Any,
    index: int,
    resource: Any,
    data: dict[str, Any],
    *,
    nesting: int,
    base: Base,
    place: pointers.ElementPlace,
) -> RuleOutcome:
    scoped_data = dict(data)
    scoped_data.update(
        {
            "element": element,
            "elementIndex": index,
            f"element{nesting}": element,
            f"elementIndex{nesting}": index,
        }
    )
    scope = entry.get("elementScope")
    if scope is True and not isinstance(element, Mapping):
        return RuleOutcome("error", "elementScope requires map elements")
    scoped = isinstance(element, Mapping) if scope is None else bool(scope)
    # a deny refuses the element, in scope or not: its failure points there
    target, where = (element, place) if scoped else (resource, place if "deny" in entry else base)
    load_context(entry.get("context") or (), scoped_data, {})
    if entry.get("preconditions") is not None and not conditions.evaluate(
        entry["preconditions"], scoped_data
    ):
        return RuleOutcome("skip")
    if entry.get("foreach") is not None:
        deeper = nesting + 1
        return _foreach(entry["foreach"], target, scoped_data, nesting=deeper, base=where, body=place.body)
    return _check(entry, copy.deepcopy(target) if scoped else target, scoped_data, base=where)


def _pod_security(
    rule: KyvernoRule, spec: Mapping[str, Any], body: Mapping[str, Any], ev: Evaluation
) -> RuleOutcome:
    if ev.pod_security is None:
        return RuleOutcome("error", "podSecurity needs the Pod Security Standards packs")
    level = str(spec.get("level", "baseline"))
    if level == "privileged":
        return RuleOutcome("pass")
    version = str(spec.get("version") or "latest")
    failures = ev.pod_security(body, level, spec.get("exclude") or [], version)
    if failures:
        return RuleOutcome("fail", "; ".join(failures))
    return RuleOutcome("pass")


def cel_request(body: Mapping[str, Any], request: Request) -> dict[str, Any]:
    group, version = resourcefilters.group_version(str(body.get("apiVersion", "")))
    meta = body.get("metadata") or {}
    return {
        "operation": request.operation,
        "userInfo": request.user_info(),
        "namespace": str(meta.get("namespace", "") or ""),
        "name": str(meta.get("name", "")),
        "kind": {"group": group, "version": version, "kind": body.get("kind", "")},
        "dryRun": request.dry_run,
    }


def namespace_object(body: Mapping[str, Any], request: Request) -> Any:
    """The Namespace of a namespaced resource: from the test's values, else a bare one by name."""
    namespace = str((body.get("metadata") or {}).get("namespace", "") or "")
    if not namespace:
        return None
    if request.namespace_object is not None:
        return request.namespace_object
    known = request.namespaces.get(namespace)
    if known is not None:
        return known
    labels = dict(request.namespace_labels.get(namespace, {}))
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}


def cel_bindings(body: Mapping[str, Any], request: Request) -> dict[str, Any]:
    return {
        "object": body,
        "oldObject": request.old_object,
        "request": cel_request(body, request),
        "params": None,
        "namespaceObject": namespace_object(body, request),
        "authorizer": None,
        "variables": {},
    }


def evaluate_cel(compiled: CompiledCel, body: Mapping[str, Any], request: Request) -> RuleOutcome:
    data = cel_bindings(body, request)
    values: dict[str, Any] = {}
    env = compiled.environment
    for name, program in compiled.variables:
        found = program.evaluate(env.activation({**data, "variables": dict(values)}))
        if not isinstance(found, cel.CelFailure):
            values[name] = found  # a failing variable stays unset: it only errors when used
    activation = env.activation({**data, "variables": values})
    for condition in compiled.preconditions:
        holds = condition.evaluate_bool(activation)
        if holds is not True:
            return RuleOutcome("skip", "cel preconditions not met")
    for program, message, message_program in compiled.expressions:
        verdict = program.evaluate_bool(activation)
        if isinstance(verdict, cel.CelFailure):
            # as in a ValidatingAdmissionPolicy with failurePolicy Fail: an error denies
            return RuleOutcome("fail", f"{message or program.source}: {verdict.message}")
        if not verdict:
            text = message
            if message_program is not None:
                rendered = message_program.evaluate(activation)
                if isinstance(rendered, str):
                    text = rendered
            return RuleOutcome("fail", text or f"failed expression: {program.source}")
    return RuleOutcome("pass")
