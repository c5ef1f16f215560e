"""The reference: a policy's rules evaluated rule by rule, a forEach item by item. What it
says a rule means is what every faster path must say (see ``evaluating`` and the
differential test); the fast path hands it every rule that does not simply pass.

Every outcome is a value: a rule that cannot be evaluated is an ``error`` result with a
stable code (``outcomes``), never an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leitplanke.core import documents
from leitplanke.engine import cel, celfunctions, outcomes, subjects
from leitplanke.engine.compiling import CompiledPolicy, CompiledRule, CompiledSet

Verdict = bool | tuple[str, str]  # holds or not, or (code, message) of why it cannot say


def judge_policy(
    compiled: CompiledSet,
    policy: CompiledPolicy,
    data: Mapping[str, Any],
    activation: Any,
    passes: outcomes.Passes,
    outcome: outcomes.Outcome,
) -> None:
    """The match condition of a native policy, then each of its per-document rules."""
    if policy.condition is not None:
        outcome.evaluations += 1
        applies = decided(policy.condition.evaluate(activation))
        if applies is False:
            return
        if applies is not True:
            code, message = applies
            subject = passes.subject
            outcome.results.append(
                outcomes.error_result(policy, outcomes.MATCH_RULE, subject, message, "", code=code)
            )
            return
    for rule in policy.document_rules:
        judge_rule(compiled, policy, rule, data, activation, passes, outcome)


def judge_rule(
    compiled: CompiledSet,
    policy: CompiledPolicy,
    rule: CompiledRule,
    data: Mapping[str, Any],
    activation: Any,
    passes: outcomes.Passes,
    outcome: outcomes.Outcome,
) -> None:
    """One rule's results: one for a plain rule, one per failing item of a forEach (or one
    pass). ``data``: the document's bindings, which an item's activation extends."""
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
    items = rule.for_each.evaluate(activation)
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
    environment = compiled.environment
    activations = [environment.activation({**data, "item": item}) for item in items]
    verdicts = [decided(rule.validate.evaluate(each)) for each in activations]
    failing = [index for index, verdict in enumerate(verdicts) if verdict is not True]
    if not failing:
        append(passes.result(policy, rule, "" if items else passes.path(rule)))
        return
    paths = item_paths(rule, subject, activation)
    if paths is not None and len(paths) != len(items):
        paths = None  # the items are not the lists the forEach reads as: search for them
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
    return outcomes.CEL_TYPE, f"expected bool, got {celfunctions.type_name(value)}"


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


def item_paths(rule: CompiledRule, subject: subjects.Subject, activation: Any) -> list[str] | None:
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
            node, base = subject.pod_meta, subjects.resolve_path("podMeta", subject, item_path="")
        for key in keys:
            node = node.get(key) if isinstance(node, Mapping) else None
            base = documents.join_path(base, key)
        if isinstance(node, list):
            paths.extend(f"{base}[{index}]" for index in range(len(node)))
    if rule.items_kept is not None:
        kept = rule.items_kept.evaluate(activation)
        if (
            not isinstance(kept, list)
            or len(kept) != len(paths)
            or any(k.__class__ is not bool for k in kept)
        ):
            return None
        return [path for path, keep in zip(paths, kept, strict=True) if keep]
    return paths
