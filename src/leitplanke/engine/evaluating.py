"""Evaluating compiled policies against one document: the door every caller goes through
(``scanning``, the public API, admission, the agent, the portal).

One CEL activation per document. The fast path learns which rules pass, and the failing
items and messages of those that do not, from the document program (``joining``), or from
one or two calls per rule outside it (``joining.findings``); anything else (an error, a
non-bool) goes to the rule-by-rule reference (``judging``). ``reference=True``
evaluates everything rule by rule: the differential test proves both give the same results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leitplanke.core import problems
from leitplanke.core.documents import Document
from leitplanke.core.results import Result, Verdict
from leitplanke.engine import contexts, joining, judging, matching, outcomes, pssversions, subjects
from leitplanke.engine.compiling import CompiledPolicy, CompiledRule, CompiledSet

# what ``scanning`` (set-level rules) and the compat front-ends use from here, where they are
Outcome = outcomes.Outcome
Subject = subjects.Subject
MATCH_RULE = outcomes.MATCH_RULE
build_subject = subjects.build_subject
resolve_path = subjects.resolve_path
locate = subjects.locate
make_result = outcomes.make_result
failing_result = outcomes.failing_result
error_result = outcomes.error_result
fix_of = outcomes.fix_of


def matching_policies(compiled: CompiledSet, doc: Document) -> list[CompiledPolicy]:
    """The candidates for the document's kind whose ``match`` selects it, in index order;
    many policies match alike (the default domain, the same excluded namespaces), so each
    distinct ``match`` is checked once per document."""
    selected: list[CompiledPolicy] = []
    answers: dict[str, bool] = {}
    for policy in compiled.candidates(doc.kind):
        answer = answers.get(policy.match_key)
        if answer is None:
            answer = answers[policy.match_key] = matching.matches(policy.policy.match, doc)
        if answer:
            selected.append(policy)
    return selected


def evaluate_document(
    compiled: CompiledSet,
    doc: Document,
    *,
    context: contexts.Context = contexts.NO_REQUEST,
    reference: bool = False,
) -> outcomes.Outcome:
    """All per-document rules of every matching policy, in policy then rule order.

    ``reference``: rule by rule only, no fast path (what the differential test compares with).
    """
    outcome = outcomes.Outcome()
    policies = matching_policies(compiled, doc)
    if not policies:
        return outcome
    subject = outcome.subject = subjects.build_subject(doc)
    data = bindings(compiled, subject, context)
    slots = compiled.document_slots
    answers: list[Any] | None = None
    if compiled.document_chunks and not reference:
        on = [False] * len(slots)
        for policy in policies:
            slot = slots.get(policy.id)
            if slot is not None:
                on[slot] = True
        data["lpOn"] = on
        activation = compiled.environment.activation(data)
        answers = _answers(compiled, activation, on)
    else:
        activation = compiled.environment.activation(data)
    frame = judging.Frame(compiled, data, activation, outcomes.Passes(subject), outcome)
    for policy in policies:
        if policy.foreign is not None:
            _evaluate_foreign(compiled, policy, subject, context, outcome)
        elif reference:
            judging.judge_policy(frame, policy)
        elif answers is not None and (slot := slots.get(policy.id)) is not None and answers[slot] is not None:
            _read_answer(frame, policy, answers[slot])
        else:
            _quick_policy(frame, policy)
    return outcome


def _answers(compiled: CompiledSet, activation: Any, on: list[bool]) -> list[Any]:
    """Per slot its answer from the document program, None where its chunk was not asked or
    failed (each rule on its own then says where)."""
    answers: list[Any] = [None] * len(on)
    for chunk in compiled.document_chunks:
        if True in on[chunk.start : chunk.end]:
            found = chunk.program.evaluate_whole(activation)
            if found.__class__ is not list:
                continue
            if len(found) != chunk.end - chunk.start:
                raise problems.LeitplankeError(
                    f"the document program answered {len(found)} slots for {chunk.end - chunk.start}"
                )
            answers[chunk.start : chunk.end] = found
    return answers


def bindings(compiled: CompiledSet, subject: subjects.Subject, context: contexts.Context) -> dict[str, Any]:
    """The variables of a document's activation: the object, its pod, the request around it."""
    data = subject.bindings()
    data.update(
        oldObject=_plain_map(context.old_object),
        request=request_of(subject, context),
        namespaceObject=_plain_map(context.namespace_object),
        pssVersion=pssversions.version_for(context.namespace_object, context.pss_version),
        item=None,
        params={},
        allParams=compiled.params,
        lpPod=subject.pod_shape,
    )
    return data


def request_of(subject: subjects.Subject, context: contexts.Context) -> dict[str, Any] | None:
    """``request`` as Kubernetes' admission request has it; null outside admission."""
    if not context.operation:
        return None
    resource = subject.resource
    group, _, version = resource.api_version.rpartition("/")
    return {
        "uid": context.uid,
        "kind": {"group": group, "version": version, "kind": resource.kind},
        "name": resource.name,
        "namespace": resource.namespace,
        "operation": context.operation,
        "userInfo": _plain(context.user_info),
        "oldObject": _plain_map(context.old_object),
        "dryRun": context.dry_run,
        "subResource": context.sub_resource,
    }


def _plain_map(value: Mapping[str, Any] | None) -> Any:
    return None if value is None else _plain(value)


def _plain(value: Any) -> Any:
    """``value`` as dicts and lists (what CEL converts): a caller may hand read-only mappings."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _read_answer(frame: judging.Frame, policy: CompiledPolicy, answer: list[Any]) -> None:
    """The results of one joined policy from its slot's answer."""
    passes, outcome = frame.passes, frame.outcome
    rules = policy.document_rules
    if policy.condition is not None:
        outcome.evaluations += 1
        if answer and answer[0] == joining.SKIPPED:  # no rule answers SKIPPED
            return
    if len(answer) != len(rules):
        raise problems.LeitplankeError(f"the document program answered {answer!r} for {policy.id}")
    append, passed, path = outcome.results.append, passes.result, passes.path
    evaluations = 0
    for rule, items in zip(rules, answer, strict=True):
        if items.__class__ is int:
            if items == 1 and rule.for_each is None:
                evaluations += 1
                append(passed(policy, rule, path(rule)))
                continue
        elif rule.for_each is not None and items.count(joining.PASSED) == len(items):
            evaluations += len(items) or 1
            append(passed(policy, rule, "" if items else path(rule)))
            continue
        elif _found(frame, policy, rule, items):
            continue
        judging.judge_rule(frame, policy, rule)
    outcome.evaluations += evaluations


def _quick_policy(frame: judging.Frame, policy: CompiledPolicy) -> None:
    """A policy outside the document program: one call per rule says whether it passes."""
    passes, outcome, activation = frame.passes, frame.outcome, frame.activation
    if policy.condition is not None:
        applies = policy.condition.evaluate(activation)
        if applies is not True and applies is not False:
            judging.judge_policy(frame, policy)
            return
        outcome.evaluations += 1
        if applies is False:
            return
    append = outcome.results.append
    for rule in policy.document_rules:
        if rule.for_each is None:
            if rule.validate.evaluate(activation) is True:
                outcome.evaluations += 1
                append(passes.result(policy, rule, passes.path(rule)))
                continue
        elif rule.each_passes is not None:
            items = rule.each_passes.evaluate(activation)
            if items.__class__ is int and items >= 0:
                outcome.evaluations += items or 1
                append(passes.result(policy, rule, passes.path(rule) if items == 0 else ""))
                continue
        if not _findings(frame, policy, rule):
            judging.judge_rule(frame, policy, rule)


def _findings(frame: judging.Frame, policy: CompiledPolicy, rule: CompiledRule) -> bool:
    """The results of a rule outside the document program that does not simply pass, from one
    more call (``joining.findings``); False leaves the rule to the reference."""
    if rule.findings is None:
        return False
    found = rule.findings.evaluate_whole(frame.activation)
    if found.__class__ is not list:
        return False
    return _found(frame, policy, rule, found if rule.for_each is not None else [found])


def _found(frame: judging.Frame, policy: CompiledPolicy, rule: CompiledRule, entries: list[Any]) -> bool:
    """The results of a rule from its per-item ``entries`` (``joining.findings``) when every
    item passes or fails and each failing item's place is known; False leaves the rule to
    the reference."""
    failing = []
    for index, entry in enumerate(entries):
        if entry.__class__ is list and entry[0] == joining.FAILED:
            failing.append((index, entry))
        elif entry.__class__ is not int or entry != joining.PASSED:
            return False  # undecided: the reference says why
    if not failing:
        return False
    subject = frame.passes.subject
    paths: list[str] = [frame.passes.path(rule)]
    if rule.for_each is not None:
        read = judging.document_items(rule, subject, frame.activation)
        if read is None or len(read[0]) != len(entries):
            return False  # where the failing items are takes the reference's search
        paths = read[0]
    frame.outcome.evaluations += max(1, len(entries))
    title = policy.policy.title
    append = frame.outcome.results.append
    for index, entry in failing:
        message = title if rule.message is None else str(entry[1])
        if rule.for_each is None:
            append(outcomes.failing_result(policy, rule, subject, message, paths[0]))
            continue
        item_path = paths[index]
        path = subjects.resolve_path(rule.rule.path or "item", subject, item_path=item_path)
        append(outcomes.failing_result(policy, rule, subject, message or title, path, item_path=item_path))
    return True


def _evaluate_foreign(
    compiled: CompiledSet,
    policy: CompiledPolicy,
    subject: subjects.Subject,
    context: contexts.Context,
    outcome: outcomes.Outcome,
) -> None:
    assert policy.foreign is not None
    p = policy.policy
    found_all = policy.foreign.evaluate(subject.doc, environment=compiled.environment, context=context)
    for found in found_all:
        outcome.evaluations += 1
        verdict = Verdict(found.verdict)
        code = found.code or (outcomes.FOREIGN_EVAL if verdict is Verdict.ERROR else "")
        outcome.results.append(
            Result(
                policy=p.id,
                rule=found.rule,
                resource=subject.resource,
                verdict=verdict,
                severity=p.severity,
                message=found.message,
                location=outcomes.location(subject, found.path, precise=verdict is not Verdict.PASS),
                category=p.category,
                controls=p.controls,
                code=code,
            )
        )
