"""Gatekeeper ``ConstraintTemplate`` + constraints: constraint ``match``, the review built for
Rego (``input.review``, ``input.parameters``, ``data.inventory``) and for the CEL engine
``K8sNativeValidation`` (``variables.params``, ``variables.anyObject``).

Built by ``engine.loading`` (one foreign policy per constraint) and by
``compat.gatekeeper.gatortests``; each review yields violation messages or a failure, as values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from leitplanke.core.documents import Document
from leitplanke.core.policies import BrokenPolicy, Match, Policy, Severity, SourceRef
from leitplanke.core.problems import Level, Problem
from leitplanke.engine import brokenpolicies, cel, compiling, contexts, yamlnodes
from leitplanke.engine.compat import vap
from leitplanke.engine.compat.gatekeeper import constraintmatching, reviews

if TYPE_CHECKING:
    from leitplanke.engine.compat.gatekeeper import regoprograms

TEMPLATE_GROUP = "templates.gatekeeper.sh/"
CONSTRAINT_GROUP = "constraints.gatekeeper.sh/"
TARGET = "admission.k8s.gatekeeper.sh"
REGO, CEL = "rego", "cel"
# enforcementAction → (verdict, severity): deny blocks; warn only warns; dryrun records an
# audit violation that never blocks, so it fails at the lowest severity
ACTIONS = {
    "deny": ("fail", Severity.HIGH),
    "warn": ("warn", Severity.MEDIUM),
    "dryrun": ("fail", Severity.LOW),
}


def is_template(data: Mapping[str, Any]) -> bool:
    return (
        str(data.get("apiVersion", "")).startswith(TEMPLATE_GROUP)
        and data.get("kind") == "ConstraintTemplate"
    )


def is_constraint(data: Mapping[str, Any]) -> bool:
    return str(data.get("apiVersion", "")).startswith(CONSTRAINT_GROUP)


@dataclass(frozen=True, slots=True)
class Violations:
    """What one engine said about one review: messages, or why it could not say."""

    messages: tuple[str, ...] = ()
    error: str = ""


@dataclass(slots=True)
class Template:
    """One ConstraintTemplate with its engines; Rego programs are built per inventory and cached."""

    name: str
    kind: str
    rego: str = ""
    libs: tuple[str, ...] = ()
    cel: vap.CompiledValidations | None = None
    cel_error: str = ""
    _programs: dict[str, regoprograms.RegoProgram | regoprograms.RegoFailure] = field(default_factory=dict)

    @property
    def engines(self) -> tuple[str, ...]:
        found = ((REGO, bool(self.rego)), (CEL, self.cel is not None or bool(self.cel_error)))
        return tuple(name for name, present in found if present)

    def program(self, inventory: Mapping[str, Any]) -> regoprograms.RegoProgram | regoprograms.RegoFailure:
        # the Rego runtime loads on first use: a scan without Rego templates never pays for it
        from leitplanke.engine.compat.gatekeeper import regoprograms

        key = repr(sorted(inventory.items())) if inventory else ""
        if key not in self._programs:
            data = {"inventory": inventory} if inventory else None
            self._programs[key] = regoprograms.build_program(self.rego, libs=self.libs, data=data)
        return self._programs[key]

    def review(
        self,
        engine: str,
        review: Mapping[str, Any],
        constraint: Constraint,
        *,
        inventory: Mapping[str, Any],
        namespace: Mapping[str, Any] | None = None,
    ) -> Violations:
        """``namespace``: the Namespace object from the request, for CEL's ``namespaceObject``
        (else read from the inventory)."""
        if engine == REGO:
            return self._review_rego(review, constraint, inventory)
        return self._review_cel(review, constraint, inventory, namespace)

    def _review_rego(
        self, review: Mapping[str, Any], constraint: Constraint, inventory: Mapping[str, Any]
    ) -> Violations:
        from leitplanke.engine.compat.gatekeeper import regoprograms

        program = self.program(inventory)
        if isinstance(program, regoprograms.RegoFailure):
            return Violations(error=program.message)
        found = program.query_set("violation", {"review": review, "parameters": constraint.parameters})
        if isinstance(found, regoprograms.RegoFailure):
            return Violations(error=found.message)
        return Violations(tuple(str(v.get("msg", "")) if isinstance(v, Mapping) else str(v) for v in found))

    def _review_cel(
        self,
        review: Mapping[str, Any],
        constraint: Constraint,
        inventory: Mapping[str, Any],
        known: Mapping[str, Any] | None,
    ) -> Violations:
        if self.cel is None:
            return Violations(error=self.cel_error or "no K8sNativeValidation engine")
        obj = review.get("object")
        old = review.get("oldObject")
        namespace = str(review.get("namespace") or "")
        data = {
            "object": obj,
            "oldObject": old,
            "request": dict(review),
            "params": constraint.body,
            "namespaceObject": reviews.namespace_object(namespace, inventory) if known is None else known,
            "authorizer": None,
            "variables": {
                "params": constraint.body.get("spec", {}).get("parameters"),
                "anyObject": obj or old,
            },
        }
        checked = vap.run_validations(self.cel, data)
        # an expression that cannot be evaluated denies, as Gatekeeper's failurePolicy Fail does
        return Violations((*checked.failures, *checked.errors))


@dataclass(frozen=True, slots=True)
class Constraint:
    name: str
    kind: str
    body: Mapping[str, Any]

    @property
    def parameters(self) -> Any:
        return (self.body.get("spec") or {}).get("parameters") or {}

    @property
    def match(self) -> Mapping[str, Any]:
        return (self.body.get("spec") or {}).get("match") or {}

    @property
    def action(self) -> str:
        return str((self.body.get("spec") or {}).get("enforcementAction") or "deny").lower()


def parse_template(data: Mapping[str, Any], *, problem: vap.ProblemSink) -> Template | None:
    spec = data.get("spec") or {}
    kind = str(((spec.get("crd") or {}).get("spec") or {}).get("names", {}).get("kind", ""))
    name = str((data.get("metadata") or {}).get("name", ""))
    if not kind:
        problem("spec.crd.spec.names.kind", "missing-field", "the template names no constraint kind")
        return None
    targets = [t for t in spec.get("targets") or [] if isinstance(t, Mapping)]
    index = next((i for i, t in enumerate(targets) if t.get("target") == TARGET), None)
    if index is None:
        problem("spec.targets", "missing-field", f"no target {TARGET}")
        return None
    target = targets[index]
    template = Template(
        name=name, kind=kind, rego=str(target.get("rego") or ""), libs=tuple(target.get("libs") or ())
    )
    for number, code in enumerate(target.get("code") or []):
        source = code.get("source") or {} if isinstance(code, Mapping) else {}
        base = f"spec.targets[{index}].code[{number}].source"
        if code.get("engine") == "Rego":
            template.rego = str(source.get("rego") or template.rego)
            template.libs = tuple(source.get("libs") or template.libs)
        elif code.get("engine") == "K8sNativeValidation":
            errors: list[str] = []

            def collect(path: str, code_: str, message: str, *, _errors: list[str] = errors) -> None:
                _errors.append(f"{path}: {message}")
                problem(path, code_, message)

            template.cel = vap.compile_validations(source, base=f"{base}.", problem=collect)
            template.cel_error = "; ".join(errors)
    if not template.engines:
        problem(f"spec.targets[{index}]", "gatekeeper-unsupported", "the template has no Rego or CEL engine")
        return None
    return template


@dataclass(frozen=True, slots=True)
class GatekeeperConstraint:
    """A constraint with its template, for the engine's per-document evaluation."""

    template: Template
    constraint: Constraint
    inventory: Mapping[str, Any] = field(default_factory=dict)
    engine: str = CEL  # Gatekeeper prefers K8sNativeValidation where a template has it
    family: str = "gatekeeper"

    def evaluate(
        self,
        document: Document,
        *,
        environment: cel.Environment,
        context: contexts.Context = contexts.NO_REQUEST,
    ) -> list[compiling.ForeignOutcome]:
        review = reviews.review_of(document.body, context)
        if not constraintmatching.matches(self.constraint.match, review, inventory=self.inventory):
            return []
        engine = self.engine if self.engine in self.template.engines else self.template.engines[0]
        found = self.template.review(
            engine, review, self.constraint, inventory=self.inventory, namespace=context.namespace_object
        )
        rule = self.constraint.kind
        if found.error:
            return [compiling.ForeignOutcome(rule, "error", found.error)]
        if not found.messages:
            return [compiling.ForeignOutcome(rule, "pass")]
        verdict = ACTIONS.get(self.constraint.action, ACTIONS["deny"])[0]
        return [compiling.ForeignOutcome(rule, verdict, message) for message in found.messages]


def build_policies(
    docs: Sequence[tuple[str, yamlnodes.YamlDocument]],
    *,
    inventory: Iterable[Mapping[str, Any]] = (),
    problems: list[Problem],
    broken: list[BrokenPolicy] | None = None,
) -> list[compiling.CompiledPolicy]:
    """Pair templates with their constraints (by kind): one foreign policy per constraint.

    A template with errors breaks its constraints (and is reported alone if it has none); a
    broken constraint is an error-only entry that applies where the constraint matches."""
    broken = [] if broken is None else broken  # the caller's list, when it keeps one
    templates: dict[str, Template] = {}
    failed: dict[str, tuple[Problem, ...]] = {}  # constraint kind -> its template's errors
    for file, doc in docs:
        if is_template(doc.data):

            def problem(path: str, code: str, message: str, *, _file: str = file, _doc: Any = doc) -> None:
                problems.append(Problem(_file, _doc.line_of(path), code, message, field=path))

            mark = len(problems)
            template = parse_template(doc.data, problem=problem)
            if template is not None:
                templates[template.kind] = template
                _lint_unsupported(template, file=file, doc=doc, problems=problems)
            if errors := brokenpolicies.errors_of(problems[mark:]):
                kind = template.kind if template is not None else _constraint_kind(doc.data)
                failed[kind] = errors
                if not kind or not any(is_constraint(d.data) and d.data.get("kind") == kind for _, d in docs):
                    name = str((doc.data.get("metadata") or {}).get("name", ""))
                    line = doc.line_of("")
                    broken.append(
                        brokenpolicies.unmatched(
                            name=name, kind="ConstraintTemplate", file=file, line=line, problems=errors
                        )
                    )
    data = reviews.build_inventory(inventory)
    built = []
    for file, doc in docs:
        if not is_constraint(doc.data):
            continue
        constraint = Constraint(
            str((doc.data.get("metadata") or {}).get("name", "")), str(doc.data.get("kind", "")), doc.data
        )
        template = templates.get(constraint.kind)
        errors = failed.get(constraint.kind, ())
        if template is None and not errors:
            errors = (
                Problem(
                    file,
                    doc.line_of("kind"),
                    "gatekeeper-no-template",
                    f"no ConstraintTemplate for kind {constraint.kind}",
                    field="kind",
                ),
            )
            problems.extend(errors)
        if template is None:  # a stand-in that cannot review: the constraint's match still holds
            template = Template(name="", kind=constraint.kind, cel_error="the template could not be built")
        source = SourceRef(file, doc.line_of(""))
        entry = constraint_entry(template, constraint, inventory=data, source=source)
        if errors:
            found, entry = brokenpolicies.foreign_entry(entry, kind=constraint.kind, problems=errors)
            broken.append(found)
        built.append(entry)
    return built


def constraint_entry(
    template: Template,
    constraint: Constraint,
    *,
    inventory: Mapping[str, Any],
    source: SourceRef,
    engine: str = CEL,
) -> compiling.CompiledPolicy:
    """The engine's entry for one constraint: it applies to every kind (the constraint's own
    match decides), with the severity of its enforcement action."""
    annotations = (constraint.body.get("metadata") or {}).get("annotations") or {}
    policy = Policy(
        id=constraint.name,
        title=str(annotations.get("metadata.gatekeeper.sh/title", constraint.name)),
        severity=ACTIONS.get(constraint.action, ACTIONS["deny"])[1],
        rules=(),
        match=Match(),
        category="Gatekeeper",
        description=str(annotations.get("description", "")),
        source=source,
    )
    foreign = GatekeeperConstraint(template, constraint, inventory, engine)
    return compiling.CompiledPolicy(policy=policy, condition=None, rules=(), foreign=foreign)


def _constraint_kind(data: Mapping[str, Any]) -> str:
    """The constraint kind a template names, read leniently (the template may be malformed)."""
    node: Any = data
    for key in ("spec", "crd", "spec", "names", "kind"):
        node = node.get(key) if isinstance(node, Mapping) else None
    return str(node or "")


def uses_inventory(policy: compiling.CompiledPolicy) -> bool:
    """Whether a policy is a Gatekeeper constraint whose template reads ``data.inventory``."""
    foreign = policy.foreign
    if not isinstance(foreign, GatekeeperConstraint):
        return False
    template = foreign.template
    return "data.inventory" in template.rego or any("data.inventory" in lib for lib in template.libs)


def with_scan_inventory(
    policies: Sequence[compiling.CompiledPolicy], bodies: Iterable[Mapping[str, Any]]
) -> list[compiling.CompiledPolicy]:
    """The policies again; constraints that read ``data.inventory`` also see the scanned documents."""
    scanned = list(bodies)
    rebuilt: list[compiling.CompiledPolicy] = []
    for policy in policies:
        foreign = policy.foreign
        if not uses_inventory(policy) or not isinstance(foreign, GatekeeperConstraint):
            rebuilt.append(policy)
            continue
        inventory = reviews.merged_inventory(foreign.inventory, reviews.build_inventory(scanned))
        rebuilt.append(replace(policy, foreign=replace(foreign, inventory=inventory)))
    return rebuilt


# builtins of Gatekeeper that reach outside the review; offline they cannot be evaluated
_UNSUPPORTED = {
    "external_data": "external data providers (external_data) need a running provider",
    "http.send": "http.send needs the network",
}


def _lint_unsupported(
    template: Template, *, file: str, doc: yamlnodes.YamlDocument, problems: list[Problem]
) -> None:
    """Say which templates use what cannot run offline: their reviews come back as errors, never passes."""
    source = "\n".join((template.rego, *template.libs))
    for needle, reason in _UNSUPPORTED.items():
        if f"{needle}(" in source:
            problems.append(
                Problem(
                    file,
                    doc.line_of("spec.targets"),
                    "gatekeeper-unsupported",
                    f"template {template.kind}: {reason}",
                    field="spec.targets",
                    level=Level.WARNING,
                )
            )
