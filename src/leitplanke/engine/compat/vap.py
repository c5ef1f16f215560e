"""Kubernetes ``ValidatingAdmissionPolicy`` with its bindings and params, and the CEL
validation blocks it shares with Gatekeeper's ``K8sNativeValidation`` engine.

``build_policies`` pairs policies, bindings and params objects loaded from the same policy
files into one foreign ``CompiledPolicy`` per binding; ``compile_validations`` and
``run_validations`` are also used by ``compat.gatekeeper.constrainttemplates``. Called by ``engine.loading``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from leitplanke.core.documents import Document
from leitplanke.core.policies import BrokenPolicy, Match, Policy, Severity, SourceRef
from leitplanke.core.problems import Level, Problem
from leitplanke.engine import brokenpolicies, cel, compiling, contexts, matching, yamlnodes
from leitplanke.engine.compat import celcompiling
from leitplanke.engine.compat.kyverno import resourcefilters, validating, validatingpolicies
from leitplanke.engine.compat.kyverno.resourcefilters import Request

GROUP = "admissionregistration.k8s.io/"
POLICY_KIND = "ValidatingAdmissionPolicy"
BINDING_KIND = "ValidatingAdmissionPolicyBinding"
FAMILY = "validating-admission-policy"

ProblemSink = Callable[[str, str, str], None]  # (field path, code, message)


def is_admission_policy(data: Mapping[str, Any]) -> bool:
    return str(data.get("apiVersion", "")).startswith(GROUP) and data.get("kind") in (
        POLICY_KIND,
        BINDING_KIND,
    )


@dataclass(frozen=True, slots=True)
class Validation:
    program: cel.Program
    message: str
    message_program: cel.Program | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CompiledValidations:
    """``variables``, ``matchConditions``, ``validations`` and ``auditAnnotations`` of one block,
    compiled in an environment that declares ``variables`` (evaluated in order, lazily failing)."""

    environment: cel.Environment
    variables: tuple[tuple[str, cel.Program], ...]
    validations: tuple[Validation, ...]
    conditions: tuple[cel.Program, ...] = ()
    annotations: tuple[tuple[str, cel.Program], ...] = ()


@dataclass(frozen=True, slots=True)
class Checked:
    """What a block said about one request: skipped by a matchCondition, failures, runtime errors."""

    skipped: bool = False
    failures: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    annotations: tuple[str, ...] = ()


def compile_validations(
    spec: Mapping[str, Any], *, base: str, problem: ProblemSink
) -> CompiledValidations | None:
    """Compile a VAP-shaped block; every CEL problem goes to ``problem`` with its field path."""
    program = celcompiling.CelCompiler(problem)

    def entries(key: str) -> list[tuple[str, Mapping[str, Any]]]:
        raw = spec.get(key) or []
        return [(f"{base}{key}[{i}]", e) for i, e in enumerate(raw) if isinstance(e, Mapping)]

    variables = []
    for path, entry in entries("variables"):
        compiled = program(entry.get("expression", ""), f"{path}.expression")
        if compiled is not None:
            variables.append((str(entry.get("name", "")), compiled))
    validations = []
    for path, entry in entries("validations"):
        compiled = program(entry.get("expression", ""), f"{path}.expression")
        message = None
        if entry.get("messageExpression"):
            message = program(entry["messageExpression"], f"{path}.messageExpression")
        if compiled is not None:
            text = str(entry.get("message", ""))
            validations.append(Validation(compiled, text, message, str(entry.get("reason", ""))))
    conditions = [program(e.get("expression", ""), f"{p}.expression") for p, e in entries("matchConditions")]
    annotations = []
    for path, entry in entries("auditAnnotations"):
        compiled = program(entry.get("valueExpression", ""), f"{path}.valueExpression")
        if compiled is not None:
            annotations.append((str(entry.get("key", "")), compiled))
    if not program.ok:
        return None
    return CompiledValidations(
        program.env,
        tuple(variables),
        tuple(validations),
        tuple(c for c in conditions if c is not None),
        tuple(annotations),
    )


def run_validations(compiled: CompiledValidations, data: Mapping[str, Any]) -> Checked:
    """Every validation of the block (not only the first failing one), as admission does.

    ``data`` binds the CEL variables; ``data["variables"]`` may hold predefined ones
    (Gatekeeper's ``params`` and ``anyObject``), the block's own are added in order.
    """
    env = compiled.environment
    values: dict[str, Any] = dict(data.get("variables") or {})
    for name, program in compiled.variables:
        found = program.evaluate(env.activation({**data, "variables": dict(values)}))
        if not isinstance(found, cel.CelFailure):
            values[name] = found  # a failing variable stays unset: it errors only where it is used
    activation = env.activation({**data, "variables": values})
    errors: list[str] = []
    for condition in compiled.conditions:
        holds = condition.evaluate_bool(activation)
        if isinstance(holds, cel.CelFailure):
            errors.append(f"matchCondition {condition.source!r}: {holds.message}")
        elif not holds:
            return Checked(skipped=True)
    if errors:
        return Checked(errors=tuple(errors))
    failures: list[str] = []
    for validation in compiled.validations:
        verdict = validation.program.evaluate_bool(activation)
        if isinstance(verdict, cel.CelFailure):
            errors.append(f"expression {validation.program.source.strip()!r}: {verdict.message}")
        elif not verdict:
            failures.append(_message(validation, activation))
    annotations = []
    for key, program in compiled.annotations:
        value = program.evaluate(activation)
        if isinstance(value, str):
            annotations.append(f"{key}={value}")
        elif isinstance(value, cel.CelFailure):
            errors.append(f"auditAnnotation {key!r}: {value.message}")
    return Checked(failures=tuple(failures), errors=tuple(errors), annotations=tuple(annotations))


def _message(validation: Validation, activation: Any) -> str:
    text = validation.message
    if validation.message_program is not None:
        rendered = validation.message_program.evaluate(activation)
        if isinstance(rendered, str) and rendered.strip():
            text = rendered
    if not text:
        text = f"failed expression: {validation.program.source.strip()}"
    return f"{text} (reason: {validation.reason})" if validation.reason else text


@dataclass(frozen=True, slots=True)
class Binding:
    """One binding (or the policy alone): its name, match, actions and the params it selects."""

    name: str
    match_resources: Mapping[str, Any]
    actions: tuple[str, ...]
    params: tuple[Mapping[str, Any], ...] | None  # None: the policy takes no params
    param_ref: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """A ``ValidatingAdmissionPolicy`` under one binding, evaluated per document offline."""

    name: str
    constraints: Mapping[str, Any]
    compiled: CompiledValidations
    binding: Binding
    failure_policy: str = "Fail"
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    family: str = FAMILY

    def evaluate(
        self,
        document: Document,
        *,
        environment: cel.Environment,
        context: contexts.Context = contexts.NO_REQUEST,
    ) -> list[compiling.ForeignOutcome]:
        if context == contexts.NO_REQUEST:
            return self.evaluate_body(document.body)
        request = resourcefilters.request_of(context)
        if not request.namespace_labels:  # the labels the policy's tests gave, unless the request has its own
            request = replace(request, namespace_labels=self.namespace_labels)
        return self.evaluate_body(document.body, request)

    def evaluate_body(
        self, body: Mapping[str, Any], request: Request | None = None
    ) -> list[compiling.ForeignOutcome]:
        request = request or Request(namespace_labels=self.namespace_labels)
        if not (
            _matches(self.constraints, body, request)
            and _matches(self.binding.match_resources, body, request)
        ):
            return []
        params = self._params_for(body)
        if params is None:
            action = str(self.binding.param_ref.get("parameterNotFoundAction", "Deny"))
            if action == "Allow":
                return []
            return [self._outcome(("no params object found for the binding",), (), ())]
        data = validating.cel_bindings(body, request)
        failures: list[str] = []
        errors: list[str] = []
        annotations: list[str] = []
        matched = False
        for param in params:
            checked = run_validations(self.compiled, {**data, "params": param})
            if checked.skipped:
                continue
            matched = True
            failures.extend(checked.failures)
            errors.extend(checked.errors)
            annotations.extend(checked.annotations)
        if not matched:
            return []
        return [self._outcome(tuple(failures), tuple(errors), tuple(annotations))]

    def _params_for(self, body: Mapping[str, Any]) -> tuple[Any, ...] | None:
        if self.binding.params is None:
            return (None,)
        ref = self.binding.param_ref
        namespace = str(ref.get("namespace") or (body.get("metadata") or {}).get("namespace") or "")
        found = []
        for param in self.binding.params:
            meta = param.get("metadata") or {}
            own = str(meta.get("namespace") or "")
            if own and namespace and own != namespace:
                continue
            if ref.get("name") is not None and meta.get("name") != ref.get("name"):
                continue
            selector = ref.get("selector")
            if ref.get("name") is None and not matching.selects(selector or {}, meta.get("labels") or {}):
                continue
            found.append(param)
        return tuple(found) or None

    def _outcome(
        self, failures: tuple[str, ...], errors: tuple[str, ...], annotations: tuple[str, ...]
    ) -> compiling.ForeignOutcome:
        audit = f" [audit: {', '.join(annotations)}]" if annotations else ""
        if errors and self.failure_policy == "Fail":
            failures = (*failures, *errors)
        if not failures:
            return compiling.ForeignOutcome(self.name, "pass", audit.strip())
        actions = self.binding.actions
        # Deny blocks; Audit alone records the violation, which is what a scan reports as fail;
        # Warn alone only warns
        verdict = "warn" if "Deny" not in actions and "Audit" not in actions else "fail"
        return compiling.ForeignOutcome(self.name, verdict, "; ".join(failures) + audit)


def _matches(constraints: Mapping[str, Any], body: Mapping[str, Any], request: Request) -> bool:
    if not constraints:
        return True
    rules = [r for r in constraints.get("resourceRules") or [] if isinstance(r, Mapping)]
    if rules and not any(validatingpolicies.rule_matches(r, body, request) for r in rules):
        return False
    excluded = [r for r in constraints.get("excludeResourceRules") or [] if isinstance(r, Mapping)]
    if any(validatingpolicies.rule_matches(r, body, request) for r in excluded):
        return False
    meta = body.get("metadata") or {}
    objects = constraints.get("objectSelector")
    if objects and not matching.selects(objects, meta.get("labels") or {}):
        return False
    namespaces = constraints.get("namespaceSelector")
    if namespaces and (namespaces.get("matchLabels") or namespaces.get("matchExpressions")):
        if body.get("kind") == "Namespace":
            labels: Mapping[str, Any] | None = meta.get("labels") or {}
        elif not meta.get("namespace"):
            return True  # cluster-scoped objects are not filtered by namespaceSelector
        else:
            labels = request.namespace_labels.get(str(meta.get("namespace", "")))
        if labels is None or not matching.selects(namespaces, labels):
            return False
    return True


def build_policies(
    docs: Sequence[tuple[str, yamlnodes.YamlDocument]],
    *,
    others: Sequence[tuple[str, yamlnodes.YamlDocument]],
    problems: list[Problem],
    broken: list[BrokenPolicy] | None = None,
) -> list[compiling.CompiledPolicy]:
    """One foreign policy per binding; a policy without bindings and without params stands alone.

    A policy whose CEL does not compile is an error-only entry per binding (Kubernetes applies
    its ``failurePolicy`` then), added to ``broken`` too."""
    broken = [] if broken is None else broken  # the caller's list, when it keeps one
    policies = [(f, d) for f, d in docs if d.data.get("kind") == POLICY_KIND]
    bindings = [(f, d) for f, d in docs if d.data.get("kind") == BINDING_KIND]
    bodies = [d.data for _, d in others if isinstance(d.data, dict)]
    labels = {
        str((b.get("metadata") or {}).get("name", "")): dict((b.get("metadata") or {}).get("labels") or {})
        for b in bodies
        if b.get("kind") == "Namespace"
    }
    built: list[compiling.CompiledPolicy] = []
    for file, doc in policies:
        name = str((doc.data.get("metadata") or {}).get("name", ""))
        spec = doc.data.get("spec") if isinstance(doc.data.get("spec"), Mapping) else {}

        def problem(path: str, code: str, message: str, *, _file: str = file, _doc: Any = doc) -> None:
            problems.append(Problem(_file, _doc.line_of(path), code, message, field=path))

        mark = len(problems)
        compiled = compile_validations(spec, base="spec.", problem=problem)
        errors = brokenpolicies.errors_of(problems[mark:])
        if compiled is None:  # what it matches still holds: an entry that validates nothing
            compiled = CompiledValidations(celcompiling.CelCompiler(problem).env, (), ())
        param_kind = spec.get("paramKind") or None
        mine = [(f, b) for f, b in bindings if (b.data.get("spec") or {}).get("policyName") == name]
        if not mine:
            if param_kind:
                if errors:
                    line = doc.line_of("")
                    broken.append(
                        brokenpolicies.unmatched(
                            name=name, kind=POLICY_KIND, file=file, line=line, problems=errors
                        )
                    )
                problems.append(
                    Problem(
                        file,
                        doc.line_of(""),
                        "vap-unbound",
                        f"{name}: paramKind without a binding: not evaluated",
                        level=Level.WARNING,
                    )
                )
                continue
            mine_bindings = [Binding(name, {}, ("Deny",), None)]
        else:
            mine_bindings = [_binding(b.data, param_kind, bodies) for _, b in mine]
        for binding in mine_bindings:
            foreign = AdmissionPolicy(
                name=name,
                constraints=spec.get("matchConstraints") or {},
                compiled=compiled,
                binding=binding,
                failure_policy=str(spec.get("failurePolicy", "Fail")),
                namespace_labels=labels,
            )
            policy = Policy(
                id=binding.name,
                title=name,
                severity=Severity.HIGH if "Deny" in binding.actions else Severity.MEDIUM,
                rules=(),
                match=Match(),
                category="ValidatingAdmissionPolicy",
                source=SourceRef(file, doc.line_of("")),
            )
            entry = compiling.CompiledPolicy(policy=policy, condition=None, rules=(), foreign=foreign)
            if errors:
                found, entry = brokenpolicies.foreign_entry(entry, kind=POLICY_KIND, problems=errors)
                broken.append(found)
            built.append(entry)
    return built


def _binding(
    data: Mapping[str, Any], param_kind: Mapping[str, Any] | None, bodies: Sequence[Mapping[str, Any]]
) -> Binding:
    spec = data.get("spec") or {}
    name = str((data.get("metadata") or {}).get("name", ""))
    params: tuple[Mapping[str, Any], ...] | None = None
    if param_kind:
        params = tuple(
            b
            for b in bodies
            if b.get("kind") == param_kind.get("kind") and b.get("apiVersion") == param_kind.get("apiVersion")
        )
    return Binding(
        name=name,
        match_resources=spec.get("matchResources") or {},
        actions=tuple(str(a) for a in spec.get("validationActions") or ["Deny"]),
        params=params,
        param_ref=spec.get("paramRef") or {},
    )
