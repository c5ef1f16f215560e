"""Kyverno ``ClusterPolicy``/``Policy`` (``kyverno.io/v1``): loading, autogen and the foreign rules.

``engine.loading`` hands every Kyverno document to ``build_policy``, which returns a foreign
``CompiledPolicy`` (or problems with file, line and field). The evaluator then calls
``KyvernoPolicy.evaluate`` per matching document; tests call ``evaluate_request``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.documents import Document
from leitplanke.core.policies import Match, Policy, Severity, SourceRef
from leitplanke.core.problems import Level, Problem
from leitplanke.engine import cel, compiling, contexts, yamlnodes
from leitplanke.engine.compat import celcompiling
from leitplanke.engine.compat.kyverno import podsecurity, resourcefilters, validating
from leitplanke.engine.compat.kyverno.resourcefilters import Request
from leitplanke.engine.compat.kyverno.validating import CompiledCel, Evaluation, KyvernoRule

API_VERSIONS = ("kyverno.io/v1", "kyverno.io/v2beta1")
KINDS = ("ClusterPolicy", "Policy")
AUTOGEN_ANNOTATION = "pod-policies.kyverno.io/autogen-controllers"
POD_CONTROLLERS = ("DaemonSet", "Deployment", "Job", "StatefulSet", "ReplicaSet", "ReplicationController")
UNSUPPORTED_RULES = ("mutate", "generate", "verifyImages")
_CEL_OBJECT = re.compile(r"(?<![\w.])(object|oldObject)\.(spec|metadata)\b")


def is_kyverno(data: Mapping[str, Any]) -> bool:
    return data.get("apiVersion") in API_VERSIONS and data.get("kind") in KINDS


@dataclass(frozen=True, slots=True)
class KyvernoPolicy:
    """The ``ForeignRules`` of one Kyverno policy: its rules, autogen ones included."""

    name: str
    namespace: str  # a namespaced Policy applies only to its own namespace
    rules: tuple[KyvernoRule, ...]
    pod_security: podsecurity.PodSecurity | None = None
    family: str = "kyverno"
    rule_names: tuple[str, ...] = field(default_factory=tuple)

    def evaluate(
        self,
        document: Document,
        *,
        environment: cel.Environment,
        context: contexts.Context = contexts.NO_REQUEST,
    ) -> list[compiling.ForeignOutcome]:
        values = context.suite.rule_variables if context.suite is not None else None
        return self.evaluate_request(document.body, resourcefilters.request_of(context), values=values)

    def evaluate_request(
        self,
        body: Mapping[str, Any],
        request: Request,
        *,
        values: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> list[compiling.ForeignOutcome]:
        """Outcomes of every rule whose match selects ``body``; ``values`` are per-rule variables."""
        if self.namespace and str((body.get("metadata") or {}).get("namespace", "")) != self.namespace:
            return []
        outcomes: list[compiling.ForeignOutcome] = []
        for rule in self.rules:
            if not resourcefilters.block_matches(rule.match, body, request):
                continue
            if rule.exclude and resourcefilters.block_matches(rule.exclude, body, request):
                continue
            evaluation = Evaluation(
                request=request,
                pod_security=self.pod_security.check if self.pod_security is not None else None,
                policy_values=(values or {}).get(_base_name(rule.name), {}),
            )
            found = validating.evaluate_rule(rule, body, evaluation)
            outcomes.append(compiling.ForeignOutcome(rule.name, found.verdict, found.message, found.path))
        return outcomes


def _base_name(rule: str) -> str:
    return rule.removeprefix("autogen-cronjob-").removeprefix("autogen-")


def build_policy(
    doc: yamlnodes.YamlDocument,
    *,
    file: str,
    problems: list[Problem],
    pod_security: podsecurity.PodSecurity | None = None,
) -> compiling.CompiledPolicy | None:
    """A foreign CompiledPolicy for one Kyverno document; authoring problems go to ``problems``.

    ``pod_security`` backs ``validate.podSecurity`` rules (the loader's PSS packs); without it
    such a rule evaluates to an error."""
    data = doc.data
    meta = data.get("metadata") or {}
    name = str(meta.get("name", ""))

    def problem(path: str, code: str, message: str, level: Level = Level.ERROR) -> None:
        problems.append(Problem(file, doc.line_of(path), code, message, field=path, level=level))

    if not name:
        problem("metadata.name", "missing-field", "metadata.name is required")
        return None
    spec = data.get("spec")
    raw_rules = spec.get("rules") if isinstance(spec, Mapping) else None
    if not isinstance(raw_rules, list) or not raw_rules:
        problem("spec.rules", "missing-field", "spec.rules must be a non-empty list")
        return None
    rules: list[KyvernoRule] = []
    for index, raw in enumerate(raw_rules):
        base = f"spec.rules[{index}]"
        if not isinstance(raw, Mapping) or not raw.get("name"):
            problem(base, "invalid-field", "a rule must be a mapping with a name")
            continue
        rule = _rule(raw, base, problem)
        if rule is not None:
            rules.append(rule)
    annotations = meta.get("annotations") or {}
    rules.extend(autogen_rules(rules, raw_rules, annotations))
    needs_pss = any("podSecurity" in r.validate for r in rules)
    foreign = KyvernoPolicy(
        name=name,
        namespace=str(meta.get("namespace", "")) if data.get("kind") == "Policy" else "",
        rules=tuple(rules),
        pod_security=pod_security if needs_pss else None,
        family="kyverno-cel" if any("cel" in r.validate for r in rules) else "kyverno",
        rule_names=tuple(r.name for r in rules),
    )
    policy = Policy(
        id=name,
        title=str(annotations.get("policies.kyverno.io/title", name)),
        severity=_severity(annotations.get("policies.kyverno.io/severity")),
        rules=(),
        match=Match(kinds=_index_kinds(rules)),
        category=str(annotations.get("policies.kyverno.io/category", "")),
        description=str(annotations.get("policies.kyverno.io/description", "")),
        source=SourceRef(file, doc.line_of("")),
    )
    return compiling.CompiledPolicy(policy=policy, condition=None, rules=(), foreign=foreign)


def _severity(text: Any) -> Severity:
    try:
        return Severity.parse(str(text)) if text else Severity.MEDIUM
    except KeyError:
        return Severity.MEDIUM


def _index_kinds(rules: Sequence[KyvernoRule]) -> tuple[str, ...]:
    kinds: list[str] = []
    for rule in rules:
        listed = resourcefilters.block_kinds(rule.match)
        if not listed:
            return ()
        for text in listed:
            kind = resourcefilters.split_kind(text)[2]
            if "*" in kind or "?" in kind:
                return ()
            kinds.append(kind)
    return tuple(dict.fromkeys(kinds))


def _rule(raw: Mapping[str, Any], base: str, problem: Any) -> KyvernoRule | None:
    name = str(raw["name"])
    unsupported = ""
    for key in UNSUPPORTED_RULES:
        if raw.get(key):
            unsupported = f"rule {name!r}: {key} rules are not supported (validate only)"
            problem(f"{base}.{key}", "kyverno-unsupported", unsupported, Level.WARNING)
    validate = raw.get("validate")
    if not unsupported and not isinstance(validate, Mapping):
        problem(f"{base}.validate", "missing-field", "a rule needs validate")
        return None
    for index, entry in enumerate(raw.get("context") or []):
        if isinstance(entry, Mapping) and "variable" not in entry:
            kinds = sorted(k for k in entry if k != "name")
            unsupported = (
                f"rule {name!r}: context entry {entry.get('name')!r} ({', '.join(kinds)}) "
                "is not supported offline"
            )
            problem(f"{base}.context[{index}]", "kyverno-unsupported", unsupported, Level.WARNING)
    compiled_cel = None
    if isinstance(validate, Mapping) and isinstance(validate.get("cel"), Mapping):
        compiled_cel = compile_cel(
            validate["cel"], f"{base}.validate.cel", problem, preconditions=raw.get("celPreconditions") or ()
        )
        if validate["cel"].get("paramRef") or validate["cel"].get("paramKind"):
            unsupported = f"rule {name!r}: cel params are not supported offline"
            problem(f"{base}.validate.cel", "kyverno-unsupported", unsupported, Level.WARNING)
    return KyvernoRule(
        name=name,
        match=raw.get("match"),
        exclude=raw.get("exclude"),
        context=tuple(raw.get("context") or ()),
        preconditions=raw.get("preconditions"),
        validate=validate if isinstance(validate, Mapping) else {},
        unsupported=unsupported,
        cel=compiled_cel,
    )


def compile_cel(
    block: Mapping[str, Any], base: str, problem: Any, *, preconditions: Sequence[Any] = ()
) -> CompiledCel | None:
    program = celcompiling.CelCompiler(problem)
    variables = program.variables(block.get("variables") or [], f"{base}.variables")
    expressions = program.validations(block.get("expressions") or [], f"{base}.expressions")
    conditions = program.conditions(preconditions, f"{base}.celPreconditions")
    if not program.ok:
        return None
    return CompiledCel(
        environment=program.env,
        variables=variables,
        expressions=expressions,
        preconditions=conditions,
    )


# --- autogen ---------------------------------------------------------------------------------


def _filters(block: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if not block:
        return []
    entries = list(block.get("any") or []) + list(block.get("all") or [])
    if block.get("resources") or block.get("subjects") or block.get("roles") or block.get("clusterRoles"):
        entries.append(block)
    return [e for e in entries if isinstance(e, Mapping)]


def _kind_names(description: Mapping[str, Any]) -> list[str]:
    return [resourcefilters.split_kind(str(k))[2] for k in description.get("kinds") or []]


def controllers_for(raw_rules: Sequence[Any], annotations: Mapping[str, Any]) -> tuple[str, ...]:
    """The controllers Kyverno's autogen copies Pod rules onto ("CronJob" included), or ()."""
    needed = False
    for raw in raw_rules:
        if not isinstance(raw, Mapping):
            continue
        for block in (raw.get("match"), raw.get("exclude")):
            for entry in _filters(block):
                resources = entry.get("resources") or {}
                if resources.get("name") or resources.get("names") or resources.get("selector"):
                    return ()
                if resources.get("annotations"):
                    return ()
                kinds = _kind_names(resources)
                if len(kinds) > 1 and "Pod" in kinds:
                    return ()
                needed = needed or kinds == ["Pod"]
    if not needed:
        return ()
    chosen = str(annotations.get(AUTOGEN_ANNOTATION, "")).strip()
    if chosen == "none":
        return ()
    if chosen:
        return tuple(c.strip() for c in chosen.split(",") if c.strip())
    return (*POD_CONTROLLERS, "CronJob")


def autogen_rules(
    rules: Sequence[KyvernoRule], raw_rules: Sequence[Any], annotations: Mapping[str, Any]
) -> list[KyvernoRule]:
    controllers = controllers_for(raw_rules, annotations)
    if not controllers:
        return []
    plain = tuple(c for c in controllers if c != "CronJob")
    generated: list[KyvernoRule] = []
    for rule in rules:
        if "Pod" not in [resourcefilters.split_kind(k)[2] for k in resourcefilters.block_kinds(rule.match)]:
            continue
        controller_rule = _for_controllers(rule, plain or ("Deployment",), prefix="autogen-")
        if plain:
            generated.append(controller_rule)
        if "CronJob" in controllers:
            generated.append(_for_cronjob(controller_rule, rule.name))
    return generated


def _replace_kinds(block: Mapping[str, Any] | None, kinds: Sequence[str]) -> Any:
    if not block:
        return block
    text = json.dumps(block)
    data = json.loads(text)
    for entry in _filters(data):
        resources = entry.get("resources")
        if isinstance(resources, dict) and resources.get("kinds"):
            resources["kinds"] = list(kinds)
    return data


def _rewrite(value: Any, replacements: Sequence[tuple[str, str]], cel_rewrite: Any) -> Any:
    text = json.dumps(value)
    for old, new in replacements:
        text = text.replace(old, new)
    data = json.loads(text)
    return cel_rewrite(data) if cel_rewrite is not None else data


def _for_controllers(rule: KyvernoRule, kinds: Sequence[str], *, prefix: str) -> KyvernoRule:
    replacements = [
        ("request.object.spec", "request.object.spec.template.spec"),
        ("request.object.metadata", "request.object.spec.template.metadata"),
    ]
    validate = dict(rule.validate)
    pattern_keys = {k: validate.pop(k) for k in ("pattern", "anyPattern") if k in validate}
    validate = _rewrite(validate, replacements, None)
    if "pattern" in pattern_keys:
        validate["pattern"] = {"spec": {"template": pattern_keys["pattern"]}}
    if "anyPattern" in pattern_keys:
        validate["anyPattern"] = [{"spec": {"template": p}} for p in pattern_keys["anyPattern"] or []]
    compiled_cel = _rewrite_cel(rule.cel) if rule.cel is not None else None
    return KyvernoRule(
        name=f"{prefix}{rule.name}",
        match=_replace_kinds(rule.match, kinds),
        exclude=_replace_kinds(rule.exclude, kinds),
        context=tuple(_rewrite(list(rule.context), replacements, None)),
        preconditions=_rewrite(rule.preconditions, replacements, None),
        validate=validate,
        unsupported=rule.unsupported,
        cel=compiled_cel,
        autogen="controllers",
    )


def _for_cronjob(rule: KyvernoRule, base_name: str) -> KyvernoRule:
    replacements = [("request.object.spec.template", "request.object.spec.jobTemplate.spec.template")]
    validate = dict(rule.validate)
    pattern_keys = {k: validate.pop(k) for k in ("pattern", "anyPattern") if k in validate}
    validate = _rewrite(validate, replacements, None)
    if "pattern" in pattern_keys:
        validate["pattern"] = {"spec": {"jobTemplate": pattern_keys["pattern"]}}
    if "anyPattern" in pattern_keys:
        validate["anyPattern"] = [{"spec": {"jobTemplate": p}} for p in pattern_keys["anyPattern"]]
    return KyvernoRule(
        name=f"autogen-cronjob-{base_name}",
        match=_replace_kinds(rule.match, ["CronJob"]),
        exclude=_replace_kinds(rule.exclude, ["CronJob"]),
        context=tuple(_rewrite(list(rule.context), replacements, None)),
        preconditions=_rewrite(rule.preconditions, replacements, None),
        validate=validate,
        unsupported=rule.unsupported,
        cel=_rewrite_cel(rule.cel, cronjob=True) if rule.cel else None,
        autogen="cronjob",
    )


def _rewrite_cel(compiled: CompiledCel | None, *, cronjob: bool = False) -> CompiledCel | None:
    """Recompile a cel block with ``object.spec``/``object.metadata`` moved into the pod template."""
    if compiled is None:
        return None
    env = compiled.environment

    def move(source: str) -> str:
        if cronjob:
            return source.replace("object.spec.template.", "object.spec.jobTemplate.spec.template.")
        return _CEL_OBJECT.sub(lambda m: f"{m[1]}.spec.template.{m[2]}", source)

    def again(program: cel.Program | None) -> cel.Program | None:
        if program is None:
            return None
        found = env.compile(move(program.source))
        return found if isinstance(found, cel.Program) else program

    variables = tuple((name, again(p) or p) for name, p in compiled.variables)
    expressions = tuple((again(p) or p, message, again(m)) for p, message, m in compiled.expressions)
    conditions = tuple(again(p) or p for p in compiled.preconditions)
    return CompiledCel(
        environment=env, variables=variables, expressions=expressions, preconditions=conditions
    )
