"""The reference: a policy's rules evaluated rule by rule, a forEach item by item. What it
says a rule means is what every faster path must say (see ``evaluating`` and the
differential test); the fast path hands it every rule that does not simply pass.

Every outcome is a value: a rule that cannot be evaluated is an ``error`` result with a
stable code (``outcomes``), never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leitplanke.core import documents
from leitplanke.engine import cel, outcomes, subjects
from leitplanke.engine.cel import functions
from leitplanke.engine.compiling import CompiledPolicy, CompiledRule, CompiledSet

Verdict = bool | tuple[str, str]  # holds or not, or (code, message) of why it cannot say


@dataclass(frozen=True, slots=True)
class Listed:
    """A forEach's items: its value (a list, else what came instead), an activation per
    item, and each item's path when read off the document (else None: ``locate``)."""

    value: Any
    activations: list[Any]
    paths: list[str] | None


class Frame:
    """What the rules of one document share while it is evaluated: its bindings and
    activation, its passes and results so far, and the forEach items listed so far (a
    program's value in one activation never changes: rules over the same items list them
    once, and each item gets one activation)."""

    __slots__ = ("_listed", "activation", "compiled", "data", "outcome", "passes")

    def __init__(
        self,
        compiled: CompiledSet,
        data: Mapping[str, Any],
        activation: Any,
        passes: outcomes.Passes,
        outcome: outcomes.Outcome,
    ) -> None:
        self.compiled = compiled
        self.data = data  # the document's bindings, which an item's activation extends
        self.activation = activation
        self.passes = passes
        self.outcome = outcome
        self._listed: dict[str, Listed] = {}

    def items(self, rule: CompiledRule) -> Listed:
        """The items of a forEach rule, each bound on its own as ``item``.

        Where the forEach only joins (or filters) lists of the document and CEL agrees on
        how many items it has, the items are those elements of the document itself, as
        ``object`` binds the document: converting CEL's list back costs more than the rest
        of the document's evaluation, and can only lose what a value is.
        """
        assert rule.for_each is not None
        found = self._listed.get(rule.for_each.source)
        if found is None:
            found = self._listed[rule.for_each.source] = self._list(rule, rule.for_each)
        return found

    def _list(self, rule: CompiledRule, program: cel.Program) -> Listed:
        subject = self.passes.subject
        read = document_items(rule, subject, self.activation)
        count = rule.items_count.evaluate(self.activation) if rule.items_count is not None else None
        if read is not None and count.__class__ is int and count == len(read[1]):
            value: Any = read[1]
        else:
            value = program.evaluate(self.activation)
        if value.__class__ is not list:
            return Listed(value, [], None)
        activation = self.compiled.environment.activation
        activations = [activation({**self.data, "item": item}) for item in value]
        paths = read[0] if read is not None and len(read[0]) == len(value) else None
        return Listed(value, activations, paths)


def judge_policy(frame: Frame, policy: CompiledPolicy) -> None:
    """The match condition of a native policy, then each of its per-document rules."""
    outcome = frame.outcome
    if policy.condition is not None:
        outcome.evaluations += 1
        applies = decided(policy.condition.evaluate(frame.activation))
        if applies is False:
            return
        if applies is not True:
            code, message = applies
            subject = frame.passes.subject
            outcome.results.append(
                outcomes.error_result(policy, outcomes.MATCH_RULE, subject, message, "", code=code)
            )
            return
    for rule in policy.document_rules:
        judge_rule(frame, policy, rule)


def judge_rule(frame: Frame, policy: CompiledPolicy, rule: CompiledRule) -> None:
    """One rule's results: one for a plain rule, one per failing item of a forEach (or one pass)."""
    passes, outcome, activation = frame.passes, frame.outcome, frame.activation
    subject = passes.subject
    append = outcome.results.append
    if rule.for_each is None:
        outcome.evaluations += 1
        verdict = decided(rule.validate.evaluate(activation))
        path = passes.path(rule)
        if verdict is True:
            append(passes.result(policy, rule, path))
        elif verdict is False:
            message, code = _message(rule, activation, empty=None, title=policy.policy.title)
            append(outcomes.failing_result(policy, rule, subject, message, path, code=code))
        else:
            append(outcomes.error_result(policy, rule.rule.name, subject, verdict[1], path, code=verdict[0]))
        return
    listed = frame.items(rule)
    items, activations, paths = listed.value, listed.activations, listed.paths
    if items.__class__ is not list:
        outcome.evaluations += 1
        if isinstance(items, cel.CelFailure):
            code, message = outcomes.CEL_EVAL, items.message
        else:
            code, message = (
                outcomes.FOREACH_NOT_LIST,
                f"forEach must produce a list, got {type(items).__name__}",
            )
        append(outcomes.error_result(policy, rule.rule.name, subject, message, "", code=code))
        return
    outcome.evaluations += max(1, len(items))
    verdicts = [decided(rule.validate.evaluate(each)) for each in activations]
    failing = [index for index, verdict in enumerate(verdicts) if verdict is not True]
    if not failing:
        append(passes.result(policy, rule, "" if items else passes.path(rule)))
        return
    for index in failing:
        item_path = paths[index] if paths is not None else subjects.locate(subject.doc.body, items[index])
        path = subjects.resolve_path(rule.rule.path or "item", subject, item_path=item_path)
        verdict = verdicts[index]
        if isinstance(verdict, tuple):
            append(outcomes.error_result(policy, rule.rule.name, subject, verdict[1], path, code=verdict[0]))
            continue
        title = policy.policy.title
        message, code = _message(rule, activations[index], empty=title, title=title)
        append(outcomes.failing_result(policy, rule, subject, message, path, item_path=item_path, code=code))


def decided(value: Any) -> Verdict:
    """A program's result as a verdict: a bool, or why it is none."""
    if value is True or value is False:
        return bool(value)
    if value.__class__ is cel.CelFailure:
        return outcomes.CEL_EVAL, value.message
    return outcomes.CEL_TYPE, f"expected bool, got {functions.type_name(value)}"


def _message(rule: CompiledRule, activation: Any, *, empty: str | None, title: str) -> tuple[str, str]:
    """The message of a failing rule and its code: the title without a message program, and
    for an empty message ``empty`` if given (a forEach item's message, as it always was)."""
    if rule.message is None:
        return title, ""
    text = rule.message.evaluate(activation)
    if isinstance(text, cel.CelFailure):
        return f"{title} (message failed: {text.message})", outcomes.MESSAGE_FAILED
    text = str(text)
    return (empty if empty is not None and not text else text), ""


def document_items(
    rule: CompiledRule, subject: subjects.Subject, activation: Any
) -> tuple[list[str], list[Any]] | None:
    """The path and value of every forEach item, read off the document when the forEach only
    joins lists, or filters such lists (``items_kept`` says which items the filter keeps)."""
    if rule.items_from is None:
        return None
    paths: list[str] = []
    items: list[Any] = []
    for root, keys in rule.items_from:
        if root == "object":
            node: Any = subject.doc.body
            base = ""
        elif root == "podSpec":
            node, base = subject.pod_spec, subject.pod_prefix
        else:
            node, base = subject.pod_meta, subjects.resolve_path("podMeta", subject, item_path="")
        for key in keys:
            node = node.get(key) if isinstance(node, Mapping) else None
            base = documents.join_path(base, key)
        if isinstance(node, list):
            paths.extend(f"{base}[{index}]" for index in range(len(node)))
            items.extend(node)
    if rule.items_kept is not None:
        kept = rule.items_kept.evaluate_whole(activation)  # a list of bools: handed over whole
        if (
            not isinstance(kept, list)
            or len(kept) != len(paths)
            or any(k.__class__ is not bool for k in kept)
        ):
            return None
        chosen = [index for index, keep in enumerate(kept) if keep]
        return [paths[index] for index in chosen], [items[index] for index in chosen]
    return paths, items
