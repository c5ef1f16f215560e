"""Kyverno ``ValidatingPolicy`` (``policies.kyverno.io``): VAP-shaped CEL policies.

``matchConstraints`` (resourceRules, excludeResourceRules, namespace/object selectors),
``matchConditions``, ``variables`` and ``validations``; Pod policies are copied onto pod
controllers as Kyverno's autogen does. Built by ``engine.loading``; evaluated per document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leitplanke.core.documents import Document
from leitplanke.core.policies import Match, Policy, Severity, SourceRef
from leitplanke.core.problems import Problem
from leitplanke.engine import cel, compiling, contexts, matching, yamlnodes
from leitplanke.engine.compat import celcompiling
from leitplanke.engine.compat.kyverno import resourcefilters, validating
from leitplanke.engine.compat.kyverno.resourcefilters import Request
from leitplanke.engine.compat.kyverno.validating import CompiledCel

API_GROUP = "policies.kyverno.io/"
CONTROLLERS = ("daemonsets", "deployments", "jobs", "statefulsets", "replicasets", "replicationcontrollers")
_CEL_OBJECT = re.compile(r"(?<![\w.])(object|oldObject)\.(spec|metadata)\b")


def is_validating_policy(data: Mapping[str, Any]) -> bool:
    return str(data.get("apiVersion", "")).startswith(API_GROUP) and data.get("kind") == "ValidatingPolicy"


@dataclass(frozen=True, slots=True)
class Variant:
    """The policy as written (``rule`` is the policy name) or one autogen copy of it."""

    rule: str
    rules: tuple[Mapping[str, Any], ...]
    exclude: tuple[Mapping[str, Any], ...]
    compiled: CompiledCel


@dataclass(frozen=True, slots=True)
class ValidatingPolicy:
    name: str
    variants: tuple[Variant, ...]
    namespace_selector: Mapping[str, Any] | None
    object_selector: Mapping[str, Any] | None
    family: str = "validating-policy"

    def evaluate(
        self,
        document: Document,
        *,
        environment: cel.Environment,
        context: contexts.Context = contexts.NO_REQUEST,
    ) -> list[compiling.ForeignOutcome]:
        return self.evaluate_request(document.body, resourcefilters.request_of(context))

    def evaluate_request(
        self, body: Mapping[str, Any], request: Request, *, values: Any = None
    ) -> list[compiling.ForeignOutcome]:
        meta = body.get("metadata") or {}
        if self.object_selector and not matching.selects(self.object_selector, meta.get("labels") or {}):
            return []
        if self.namespace_selector and (
            self.namespace_selector.get("matchLabels") or self.namespace_selector.get("matchExpressions")
        ):
            labels = request.namespace_labels.get(str(meta.get("namespace", "")))
            if labels is None or not matching.selects(self.namespace_selector, labels):
                return []
        outcomes = []
        for variant in self.variants:
            if not any(rule_matches(r, body, request) for r in variant.rules):
                continue
            if any(rule_matches(r, body, request) for r in variant.exclude):
                continue
            found = validating.evaluate_cel(variant.compiled, body, request)
            outcomes.append(compiling.ForeignOutcome(variant.rule, found.verdict, found.message, found.path))
        return outcomes


def rule_matches(rule: Mapping[str, Any], body: Mapping[str, Any], request: Request) -> bool:
    group, version = resourcefilters.group_version(str(body.get("apiVersion", "")))
    groups = [str(g) for g in rule.get("apiGroups") or ["*"]]
    versions = [str(v) for v in rule.get("apiVersions") or ["*"]]
    operations = [str(o) for o in rule.get("operations") or ["*"]]
    names = [str(n) for n in rule.get("resourceNames") or []]
    kind = str(body.get("kind", ""))
    return (
        ("*" in groups or group in groups)
        and ("*" in versions or version in versions)
        and ("*" in operations or request.operation in operations)
        and any(resourcefilters.resource_matches(str(r), kind) for r in rule.get("resources") or [])
        and (not names or str((body.get("metadata") or {}).get("name", "")) in names)
    )


def _controllers(spec: Mapping[str, Any], rules: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    listed = ((spec.get("autogen") or {}).get("podControllers") or {}).get("controllers")
    only_pods = bool(rules) and all(
        [str(r) for r in rule.get("resources") or []] == ["pods"] for rule in rules
    )
    if not only_pods:
        return ()
    if listed is not None:
        return tuple(str(c).lower() for c in listed)
    return (*CONTROLLERS, "cronjobs")


def build_policy(
    doc: yamlnodes.YamlDocument, *, file: str, problems: list[Problem]
) -> compiling.CompiledPolicy | None:
    data = doc.data
    meta = data.get("metadata") or {}
    name = str(meta.get("name", ""))
    spec = data.get("spec") if isinstance(data.get("spec"), Mapping) else {}
    before = len(problems)

    def problem(path: str, code: str, message: str) -> None:
        problems.append(Problem(file, doc.line_of(path), code, message, field=path))

    if not name:
        problem("metadata.name", "missing-field", "metadata.name is required")
    constraints = spec.get("matchConstraints") or {}
    rules = tuple(r for r in constraints.get("resourceRules") or [] if isinstance(r, Mapping))
    exclude = tuple(r for r in constraints.get("excludeResourceRules") or [] if isinstance(r, Mapping))
    if not rules:
        problem(
            "spec.matchConstraints.resourceRules",
            "missing-field",
            "matchConstraints.resourceRules is required",
        )
    if not spec.get("validations"):
        problem("spec.validations", "missing-field", "spec.validations is required")
    if spec.get("paramKind") or spec.get("paramRef"):
        problem("spec.paramKind", "kyverno-unsupported", "params are not supported offline")
    if len(problems) > before:
        return None
    compiled = _compile(spec, problem, rewrite=None)
    if compiled is None:
        return None
    variants = [Variant(name, rules, exclude, compiled)]
    controllers = _controllers(spec, rules)
    plain = [c for c in controllers if c != "cronjobs"]
    if plain:
        moved = _compile(spec, problem, rewrite=lambda s: _CEL_OBJECT.sub(r"\1.spec.template.\2", s))
        if moved is not None:
            variants.append(Variant(name, _with_resources(rules, plain), (), moved))
    if "cronjobs" in controllers:
        moved = _compile(
            spec, problem, rewrite=lambda s: _CEL_OBJECT.sub(r"\1.spec.jobTemplate.spec.template.\2", s)
        )
        if moved is not None:
            variants.append(Variant(name, _with_resources(rules, ["cronjobs"]), (), moved))
    annotations = meta.get("annotations") or {}
    foreign = ValidatingPolicy(
        name=name,
        variants=tuple(variants),
        namespace_selector=constraints.get("namespaceSelector"),
        object_selector=constraints.get("objectSelector"),
    )
    severity_text = str(annotations.get("policies.kyverno.io/severity", "medium"))
    try:
        severity = Severity.parse(severity_text)
    except KeyError:
        severity = Severity.MEDIUM
    policy = Policy(
        id=name,
        title=str(annotations.get("policies.kyverno.io/title", name)),
        severity=severity,
        rules=(),
        match=Match(),
        category=str(annotations.get("policies.kyverno.io/category", "")),
        description=str(annotations.get("policies.kyverno.io/description", "")),
        source=SourceRef(file, doc.line_of("")),
    )
    return compiling.CompiledPolicy(policy=policy, condition=None, rules=(), foreign=foreign)


def _with_resources(
    rules: Sequence[Mapping[str, Any]], resources: Sequence[str]
) -> tuple[Mapping[str, Any], ...]:
    return tuple(
        {**rule, "apiGroups": ["*"], "apiVersions": ["*"], "resources": list(resources)} for rule in rules[:1]
    )


def _compile(spec: Mapping[str, Any], problem: Any, *, rewrite: Any) -> CompiledCel | None:
    program = celcompiling.CelCompiler(problem, rewrite=rewrite)
    variables = program.variables(spec.get("variables") or [], "spec.variables")
    expressions = program.validations(spec.get("validations") or [], "spec.validations")
    conditions = program.conditions(spec.get("matchConditions") or [], "spec.matchConditions")
    if not program.ok:
        return None
    return CompiledCel(program.env, variables, expressions, conditions)
