"""Evaluating compiled policies against one document: one CEL activation per document.

Every outcome is a value: a CEL runtime error becomes an ``error`` result with
the runtime's message, never an exception. Called by ``scanning``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core import documents
from leitplanke.core.documents import Document
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.engine import cel, matching
from leitplanke.engine.compiling import CompiledPolicy, CompiledRule, CompiledSet

MATCH_RULE = "match"
# enum members as module constants: attribute access on an Enum class is slow on the hot path
PASS, FAIL, WARN, ERROR = Verdict.PASS, Verdict.FAIL, Verdict.WARN, Verdict.ERROR


@dataclass(slots=True)
class Outcome:
    results: list[Result] = field(default_factory=list)
    evaluations: int = 0
    subject: Subject | None = None  # the document as evaluated, if a policy matched it


@dataclass(frozen=True, slots=True)
class Subject:
    """A document as CEL sees it, with the paths reports need."""

    doc: Document
    resource: Resource
    pod_spec: Mapping[str, Any] | None
    pod_meta: Mapping[str, Any] | None
    pod_prefix: str
    # where the pod spec is (1 + its index in ``documents.POD_PATHS``), if CEL can select it
    # and its metadata from ``object`` as ``build_subject`` finds them (else 0): a program then
    # need not convert the pod spec a second time (see ``compiling.pod_selections``)
    pod_shape: int = 0

    def bindings(self) -> dict[str, Any]:
        return {"object": self.doc.body, "podSpec": self.pod_spec, "podMeta": self.pod_meta}


def build_subject(doc: Document) -> Subject:
    body = doc.body
    kind = doc.kind
    pod_spec = documents.pod_spec_of(body)
    pod_meta: Mapping[str, Any] | None = None
    prefix = ""
    shape = 0
    if pod_spec is not None:
        prefix = documents.pod_spec_prefix(kind)
        meta_path = [*documents.parse_path(prefix)[:-1], "metadata"]
        node: Any = body
        for part in meta_path:
            node = node.get(part) if isinstance(node, Mapping) else None
        pod_meta = node if isinstance(node, Mapping) else {}
        if node is None or isinstance(node, Mapping):  # CEL's `.?metadata.orValue({})` agrees
            shape = documents.POD_PATHS.index(documents.POD_KINDS[kind]) + 1
    resource = Resource(
        api_version=doc.api_version, kind=kind, namespace=doc.namespace, name=doc.name, domain=doc.domain
    )
    return Subject(
        doc=doc, resource=resource, pod_spec=pod_spec, pod_meta=pod_meta, pod_prefix=prefix, pod_shape=shape
    )


def matching_policies(compiled: CompiledSet, doc: Document) -> list[CompiledPolicy]:
    """The candidates for the document's kind whose ``match`` selects it, in index order;
    many policies match alike (the default domain, the same excluded namespaces), so each
    distinct ``match`` is checked once per document."""
    selected: list[CompiledPolicy] = []
    answers: dict[tuple[Any, ...], bool] = {}
    for policy in compiled.candidates(doc.kind):
        answer = answers.get(policy.match_key)
        if answer is None:
            answer = answers[policy.match_key] = matching.matches(policy.policy.match, doc)
        if answer:
            selected.append(policy)
    return selected


def evaluate_document(compiled: CompiledSet, doc: Document) -> Outcome:
    """All per-document rules of every matching policy, in policy then rule order."""
    outcome = Outcome()
    policies = matching_policies(compiled, doc)
    if not policies:
        return outcome
    subject = outcome.subject = build_subject(doc)
    data = subject.bindings()
    data.update(
        oldObject=None, request=None, item=None, params={}, allParams=compiled.params, lpPod=subject.pod_shape
    )
    program, slots = compiled.document_program, compiled.document_slots
    joined: _Joined | None = None
    if program is not None:
        on = [False] * len(slots)
        for policy in policies:
            slot = slots.get(policy.id)
            if slot is not None:
                on[slot] = True
        data["lpOn"] = on
    activation = compiled.environment.activation(data)
    if program is not None:
        text = program.evaluate(activation)
        if text.__class__ is str:
            joined = _Joined(text)
    if joined is not None:
        try:
            _evaluate_policies(compiled, policies, subject, activation, joined, outcome)
            if joined.at == len(joined.text):
                return outcome
        except (IndexError, ValueError):
            pass
        # the program's text does not read as its policies' tokens: a defect of ours, not the
        # document's, so its results come rule by rule
        outcome.results.clear()
        outcome.evaluations = 0
    _evaluate_policies(compiled, policies, subject, activation, None, outcome)
    return outcome


def _evaluate_policies(
    compiled: CompiledSet,
    policies: Sequence[CompiledPolicy],
    subject: Subject,
    activation: Any,
    joined: _Joined | None,
    outcome: Outcome,
) -> None:
    slots = compiled.document_slots
    passes = _Passes(subject)
    passed = passes.result
    append = outcome.results.append
    evaluations = 0
    # most rules pass: their path is inlined here, anything else goes to a function
    for policy in policies:
        if policy.foreign is not None:
            _evaluate_foreign(compiled, policy, subject, outcome)
            continue
        if joined is not None and policy.id in slots:
            evaluations += _joined_results(compiled, policy, subject, activation, joined, passes, append)
            continue
        if policy.condition is not None:
            evaluations += 1
            applies = policy.condition.evaluate_bool(activation)
            if applies.__class__ is cel.CelFailure:
                append(error_result(policy, MATCH_RULE, subject, applies.message, ""))
                continue
            if not applies:
                continue
        for rule in policy.document_rules:
            if rule.for_each is None:
                evaluations += 1
                verdict = rule.validate.evaluate_bool(activation)
                if verdict is True:
                    append(passed(policy, rule, passes.path(rule)))
                else:
                    _plain_finding(policy, rule, subject, activation, verdict, passes, append)
                continue
            combined = rule.each_validate.evaluate(activation)  # type: ignore[union-attr]
            if combined.__class__ is str and "f" not in combined:
                evaluations += len(combined) or 1
                append(passed(policy, rule, "" if combined else passes.path(rule)))
            else:
                evaluations += _each_findings(
                    compiled, policy, rule, subject, activation, combined, passes, append
                )
    outcome.evaluations += evaluations


class _Joined:
    """The document program's result (see ``compiling.document_program``), read in slot order."""

    __slots__ = ("at", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def verdict(self, *, with_message: bool) -> tuple[bool, str | None]:
        """The next item's verdict, and its message if it fails and ``with_message``."""
        text, at = self.text, self.at
        if text[at] == "p":
            self.at = at + 1
            return True, None
        if not with_message:
            self.at = at + 1
            return False, None
        colon = text.index(":", at)
        end = colon + 1 + int(text[at + 1 : colon])
        self.at = end
        return False, text[colon + 1 : end]


def _joined_results(
    compiled: CompiledSet,
    policy: CompiledPolicy,
    subject: Subject,
    activation: Any,
    joined: _Joined,
    passes: _Passes,
    append: Callable[[Result], None],
) -> int:
    """The results of one policy from its slot of the document program; returns the evaluations."""
    evaluations = 0
    if policy.condition is not None:
        evaluations += 1
        if joined.text[joined.at] == "-":
            joined.at += 1
            return evaluations
    title = policy.policy.title
    for rule in policy.document_rules:
        with_message = rule.message is not None
        if rule.for_each is None:
            evaluations += 1
            holds, message = joined.verdict(with_message=with_message)
            if holds:
                append(passes.result(policy, rule, passes.path(rule)))
            else:
                text = title if message is None else message
                append(failing_result(policy, rule, subject, text, passes.path(rule)))
            continue
        flags: list[str] = []
        messages: dict[int, str] = {}
        while joined.text[joined.at] != ";":
            holds, message = joined.verdict(with_message=with_message)
            if message is not None:
                messages[len(flags)] = message
            flags.append("p" if holds else "f")
        joined.at += 1
        if not messages and "f" not in flags:
            evaluations += len(flags) or 1
            append(passes.result(policy, rule, "" if flags else passes.path(rule)))
        else:
            evaluations += _each_findings(
                compiled, policy, rule, subject, activation, "".join(flags), passes, append, messages
            )
    return evaluations


class _Passes:
    """Passing results of one document, built on the hot path: most results are passes.

    A pass points at its document's line, so passes at the same path share one Location.
    """

    __slots__ = ("locations", "paths", "subject")

    def __init__(self, subject: Subject) -> None:
        self.subject = subject
        self.locations: dict[str, Location] = {}
        self.paths: dict[str, str] = {}  # a rule's path -> the document's

    def path(self, rule: CompiledRule) -> str:
        """The document path of the rule's ``path`` (with no forEach item)."""
        found = self.paths.get(rule.rule.path)
        if found is None:
            found = self.paths[rule.rule.path] = resolve_path(rule.rule.path, self.subject, item_path="")
        return found

    def result(self, policy: CompiledPolicy, rule: CompiledRule, path: str) -> Result:
        location = self.locations.get(path)
        if location is None:
            origin = self.subject.doc.origin
            location = self.locations[path] = Location(origin.file, origin.line, path, origin.index)
        p = policy.policy
        return Result(
            p.id,
            rule.rule.name,
            self.subject.resource,
            PASS,
            p.severity,
            "",
            location,
            None,
            "",
            p.category,
            p.controls,
        )


def _evaluate_foreign(
    compiled: CompiledSet, policy: CompiledPolicy, subject: Subject, outcome: Outcome
) -> None:
    assert policy.foreign is not None
    p = policy.policy
    for found in policy.foreign.evaluate(subject.doc, environment=compiled.environment):
        outcome.evaluations += 1
        verdict = Verdict(found.verdict)
        outcome.results.append(
            Result(
                policy=p.id,
                rule=found.rule,
                resource=subject.resource,
                verdict=verdict,
                severity=p.severity,
                message=found.message,
                location=_location(subject, found.path, precise=verdict is not PASS),
                category=p.category,
                controls=p.controls,
            )
        )


def _plain_finding(
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: Subject,
    activation: Any,
    verdict: bool | cel.CelFailure,
    passes: _Passes,
    append: Callable[[Result], None],
) -> None:
    path = passes.path(rule)
    if verdict.__class__ is cel.CelFailure:
        append(error_result(policy, rule.rule.name, subject, verdict.message, path))
    else:
        message = _message(rule.message, activation, default=policy.policy.title)
        append(failing_result(policy, rule, subject, message, path))


def _each_findings(
    compiled: CompiledSet,
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: Subject,
    activation: Any,
    combined: Any,
    passes: _Passes,
    append: Callable[[Result], None],
    messages: dict[int, str] | None = None,
) -> int:
    """The results of a forEach rule whose items do not all pass; returns the evaluations.

    ``combined`` is the rule's one-call verdict string (``p`` or ``f`` per item), or what
    came back instead when an item broke that call; ``messages``, the failing items'
    messages when the caller has them already.
    """
    assert rule.for_each is not None
    items: list[Any] | None = None
    verdicts: list[Any]
    if combined.__class__ is str:
        verdicts = [flag == "p" for flag in combined]
    else:
        # one item broke the combined call: evaluate item by item to say which
        listed = _items(rule.for_each, activation)
        if isinstance(listed, cel.CelFailure):
            append(error_result(policy, rule.rule.name, subject, listed.message, ""))
            return 1
        items = listed
        verdicts = [_item_verdict(compiled, rule.validate, subject, item) for item in items]
    failing = [i for i, v in enumerate(verdicts) if v is not True]
    if not failing:
        append(passes.result(policy, rule, "" if verdicts else passes.path(rule)))
        return max(1, len(verdicts))
    paths = _item_paths(rule, subject, activation) if items is None else None
    if paths is None and items is None:
        found = _items(rule.for_each, activation)
        items = [] if isinstance(found, cel.CelFailure) else found
    if messages is None:
        messages = _each_messages(compiled, rule, subject, activation, items, failing)
    for index in failing:
        if paths is not None:
            item_path = paths[index] if index < len(paths) else ""
        else:
            item = items[index] if items is not None and index < len(items) else None
            item_path = locate(subject.doc.body, item) if item is not None else ""
        path = resolve_path(rule.rule.path or "item", subject, item_path=item_path or "")
        verdict = verdicts[index]
        if isinstance(verdict, cel.CelFailure):
            append(error_result(policy, rule.rule.name, subject, verdict.message, path))
        else:
            message = messages.get(index) or policy.policy.title
            append(failing_result(policy, rule, subject, message, path, item_path=item_path))
    return max(1, len(verdicts))


def _item_paths(rule: CompiledRule, subject: Subject, activation: Any) -> list[str] | None:
    """The path of every forEach item, read off the document when the forEach only joins
    lists, or filters such lists (``items_kept`` says which items the filter keeps)."""
    if rule.items_from is None:
        return None
    paths: list[str] = []
    for root, keys in rule.items_from:
        if root == "object":
            node: Any = subject.doc.body
            base = ""
        elif root == "podSpec":
            node, base = subject.pod_spec, subject.pod_prefix
        else:
            node, base = subject.pod_meta, resolve_path("podMeta", subject, item_path="")
        for key in keys:
            node = node.get(key) if isinstance(node, Mapping) else None
            base = documents.join_path(base, key)
        if isinstance(node, list):
            paths.extend(f"{base}[{index}]" for index in range(len(node)))
    if rule.items_kept is not None:
        kept = rule.items_kept.evaluate(activation)
        if kept.__class__ is not str or len(kept) != len(paths):
            return None
        return [path for path, flag in zip(paths, kept, strict=True) if flag == "y"]
    return paths


def _items(program: cel.Program, activation: Any) -> list[Any] | cel.CelFailure:
    items = program.evaluate(activation)
    if isinstance(items, cel.CelFailure):
        return items
    if not isinstance(items, list):
        return cel.CelFailure(f"forEach must produce a list, got {type(items).__name__}")
    return items


def _item_activation(compiled: CompiledSet, subject: Subject, item: Any) -> Any:
    data = subject.bindings()
    data.update(oldObject=None, request=None, item=item, params={}, allParams=compiled.params)
    return compiled.environment.activation(data)


def _item_verdict(
    compiled: CompiledSet, program: cel.Program, subject: Subject, item: Any
) -> bool | cel.CelFailure:
    return program.evaluate_bool(_item_activation(compiled, subject, item))


def _each_messages(
    compiled: CompiledSet,
    rule: CompiledRule,
    subject: Subject,
    activation: Any,
    items: Sequence[Any] | None,
    failing: Sequence[int],
) -> dict[int, str]:
    if rule.each_message is None or rule.message is None:
        return {}
    texts = rule.each_message.evaluate(activation)
    if isinstance(texts, list) and (items is None or len(texts) == len(items)):
        return {i: str(texts[i]) for i in failing if i < len(texts)}
    if items is None:
        found = _items(rule.for_each, activation) if rule.for_each is not None else []
        items = [] if isinstance(found, cel.CelFailure) else found
    result: dict[int, str] = {}
    for index in failing:
        if index < len(items):
            item_activation = _item_activation(compiled, subject, items[index])
            result[index] = _message(rule.message, item_activation, default="")
    return result


def _message(program: cel.Program | None, activation: Any, *, default: str) -> str:
    if program is None:
        return default
    text = program.evaluate(activation)
    if isinstance(text, cel.CelFailure):
        return f"{default} (message failed: {text.message})"
    return str(text)


def resolve_path(path: str, subject: Subject, *, item_path: str) -> str:
    """Turn a rule's ``path`` (``item.x``, ``podSpec.x``, ``podMeta.x``, ``x``) into a document path."""
    if not path:
        return item_path
    head, _, rest = path.partition(".")
    if head == "item":
        if not item_path:
            return ""  # no item (a forEach over nothing): the document, not a path under no item
        base = item_path
    elif head == "podSpec":
        base = subject.pod_prefix
    elif head == "podMeta" and subject.pod_spec is not None:
        base = subject.pod_prefix.removesuffix("spec") + "metadata"
    else:
        return path
    if not rest:
        return base
    return f"{base}.{rest}" if base else rest


def locate(body: Any, value: Any, base: str = "") -> str:
    """Path of the first list element in ``body`` equal to ``value`` (depth first), or ``""``."""
    if isinstance(body, Mapping):
        for key, child in body.items():
            if isinstance(child, Mapping | list):
                found = locate(child, value, documents.join_path(base, str(key)))
                if found:
                    return found
    elif isinstance(body, list):
        for index, child in enumerate(body):
            if child == value:
                return f"{base}[{index}]"
        for index, child in enumerate(body):
            if isinstance(child, Mapping | list):
                found = locate(child, value, f"{base}[{index}]")
                if found:
                    return found
    return ""


def _location(subject: Subject, path: str, *, precise: bool = True) -> Location:
    """Where a result points; a pass points at its document (looking up lines costs time)."""
    origin = subject.doc.origin
    line = origin.line_of(path) if precise else origin.line
    return Location(file=origin.file, line=line, path=path, index=origin.index)


def make_result(
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: Subject,
    verdict: Verdict,
    message: str,
    path: str,
    *,
    fix: Mapping[str, Any] | None = None,
) -> Result:
    p = policy.policy
    return Result(
        policy=p.id,
        rule=rule.rule.name,
        resource=subject.resource,
        verdict=verdict,
        severity=p.severity,
        message=message,
        location=_location(subject, path, precise=verdict is not PASS),
        fix=fix,
        category=p.category,
        controls=p.controls,
    )


def failing_result(
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: Subject,
    message: str,
    path: str,
    *,
    item_path: str = "",
) -> Result:
    verdict = WARN if rule.rule.verdict_on_fail == "warn" else FAIL
    return make_result(policy, rule, subject, verdict, message, path, fix=fix_of(rule, subject, item_path))


def fix_of(rule: CompiledRule, subject: Subject, item_path: str) -> dict[str, Any] | None:
    fix = rule.rule.fix
    if fix is None:
        return None
    target = resolve_path(fix.path, subject, item_path=item_path) if fix.path else item_path
    return {"path": target, "merge": dict(fix.merge), "remove": list(fix.remove)}


def error_result(policy: CompiledPolicy, rule: str, subject: Subject, message: str, path: str) -> Result:
    p = policy.policy
    return Result(
        policy=p.id,
        rule=rule,
        resource=subject.resource,
        verdict=ERROR,
        severity=p.severity,
        message=message,
        location=_location(subject, path),
        category=p.category,
        controls=p.controls,
    )
