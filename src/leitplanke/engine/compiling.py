"""Compiling policies: every CEL expression compiled once, policies indexed by kind.

Stages: check each expression alone (so problems carry the author's line and
column), then wrap it with its policy's params and compile the program the
evaluator runs. Called by the CLI and ``testing``; feeds ``evaluating``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from pathlib import Path

from leitplanke.core.policies import Policy, Rule, ScalarText
from leitplanke.core.problems import Problem
from leitplanke.engine import brokenpolicies, cel, itemsources, joining, messages, yamlscalars
from leitplanke.engine.cel import sourcetext

# the compiled values, named here too (``compiling.CompiledPolicy``): the callers' one door
from leitplanke.engine.compiledpolicies import (
    ANY_KIND as ANY_KIND,
    CompiledPolicy as CompiledPolicy,
    CompiledRule as CompiledRule,
    CompiledSet as CompiledSet,
    ForeignOutcome as ForeignOutcome,
    ForeignRules as ForeignRules,
)

VARIABLES = (
    # what rules read
    *("object", "oldObject", "request", "namespaceObject", "podSpec", "podMeta", "item", "params"),
    "pssVersion",  # the minor of the Pod Security Standards the document is judged by (``pssversions``)
    # set-level rules
    *("documents", "subjects", "subjectNamespace", "variables"),
    # the engine's own (``lp``): derived programs, set-level activations
    *("allParams", "lpObjects", "lpPodSpecs", "lpPodMetas", "lpCollected", "lpCandidates"),
    *("lpOn", "lpPod", "lpPodShapes", "lpVariables"),
)


def build_environment(*, cache: Path | None = None) -> cel.Environment:
    """The environment native policies compile in; ``cache``: a folder for compiled programs
    kept between runs (the caller's choice, ``settings.cache_directory``), None keeps none."""
    return cel.build_environment(variables=VARIABLES, cache=cache)


def compile_policies(
    policies: Sequence[Policy],
    *,
    environment: cel.Environment | None = None,
    foreign: Sequence[CompiledPolicy] = (),
) -> tuple[CompiledSet, list[Problem]]:
    """Compile native policies; ``foreign`` ones (already built by ``compat``) join the index as they are.

    A native policy that does not compile joins as an error-only entry (``brokenpolicies``).
    """
    env = environment or build_environment()
    problems: list[Problem] = []
    compiled: list[CompiledPolicy] = list(foreign)
    broken = [p.foreign.broken for p in foreign if isinstance(p.foreign, brokenpolicies.BrokenRules)]
    seen: dict[str, Policy] = {}
    for policy in policies:
        if not policy.enabled:
            continue
        if policy.id in seen:
            first = seen[policy.id].source
            duplicate = Problem(
                policy.source.file,
                policy.source.line,
                "duplicate-policy",
                f"policy {policy.id!r} is already defined at {first.file}:{first.line}",
                field="metadata.name",
            )
            problems.append(duplicate)
            file, line = policy.source.file, policy.source.line
            broken.append(
                brokenpolicies.unmatched(
                    name=policy.id, kind="Policy", file=file, line=line, problems=[duplicate]
                )
            )
            continue
        seen[policy.id] = policy
        mark = len(problems)
        result = _compile_policy(env, policy, problems)
        if result is None:  # an error result where it applies, the other policies unharmed
            found, result = brokenpolicies.native_entry(policy, problems[mark:])
            broken.append(found)
        compiled.append(result)
    index: dict[str, list[CompiledPolicy]] = {}
    for item in compiled:
        for kind in item.policy.match.kinds or (ANY_KIND,):
            index.setdefault(kind, []).append(item)
    collect = frozenset(kind for p in compiled for r in p.rules for kind in r.rule.collect)
    native = [p for p in compiled if p.foreign is None]
    parts = [joining.part(p.policy, [r.rule for r in p.document_rules]) for p in native]
    chunks, slots = joining.document_programs(env, parts)
    env.save()
    return (
        CompiledSet(
            environment=env,
            policies=tuple(compiled),
            by_kind={kind: tuple(items) for kind, items in index.items()},
            params={p.id: dict(p.policy.params) for p in compiled},
            collect_kinds=collect,
            document_chunks=chunks,
            document_slots=slots,
            broken=tuple(broken),
        ),
        problems,
    )


class _Compiler:
    def __init__(self, env: cel.Environment, policy: Policy, problems: list[Problem]) -> None:
        self.env = env
        self.policy = policy
        self.problems = problems
        self.failed = False
        self.prefix = ""
        if policy.params:
            # params are constants: a literal in the program, not a variable converted per document
            self.prefix = f"cel.bind(params, {joining.params_value(policy)}, "

    def check(self, source: str, *, field: str, line: int, text: ScalarText | None = None) -> bool:
        """Compile ``source`` alone; a problem names the file's line and column (through
        ``text``, the field as written; without it, the column inside the expression)."""
        result = self.env.compile(source)
        if isinstance(result, cel.CelIssue):
            self.failed = True
            place = None
            if text is not None:
                place = yamlscalars.file_position(text, source, result.line, result.column)
            found_line, column = place or (line + result.line - 1, result.column)
            file = self.policy.source.file
            self.problems.append(
                Problem(file, found_line, "cel-compile", result.message, field=field, column=column)
            )
            return False
        return True

    def message(self, rule: Rule, *, field: str) -> Rule:
        """``rule`` with its message as CEL (``messages.resolve``); without one if it is wrong."""
        key = "messageExpression" if rule.message_expression else "message"
        found = messages.resolve(rule.message, expression=rule.message_expression, compiles=self._issue)
        if found.error:
            self.failed = True
            line = rule.lines.get(key, rule.source.line)
            self.problems.append(
                Problem(self.policy.source.file, line, "invalid-message", found.error, field=field)
            )
        return dataclasses.replace(rule, message=found.source)

    def _issue(self, source: str) -> str:
        result = self.env.compile(source)
        return result.message if isinstance(result, cel.CelIssue) else ""

    def program(self, source: str) -> cel.Program | None:
        result = self.env.compile(self._wrapped(source))
        if isinstance(result, cel.CelIssue):
            self.failed = True
            self.problems.append(
                Problem(self.policy.source.file, self.policy.source.line, "cel-compile", result.message)
            )
            return None
        return self._eager(result)

    def derived(self, source: str) -> cel.Program | None:
        """A program derived from the policy's expressions for speed, or None if it does not
        compile (a type the checker cannot unify, say): the caller falls back, no problem."""
        result = self.env.compile(self._wrapped(source))
        return None if isinstance(result, cel.CelIssue) else self._eager(result)

    def _eager(self, written: cel.Program) -> cel.Program:
        """``written`` evaluated with eager binds where they can be had: the runtime's lazy
        bind may read a stale value (see ``cel.sourcetext.eager_binds``)."""
        if "bind" not in written.source:
            return written
        rewritten = sourcetext.eager_binds(written.source)
        eager = self.env.compile(rewritten) if rewritten is not None else None
        return cel.EagerProgram(eager, written) if isinstance(eager, cel.Program) else written

    def _wrapped(self, source: str) -> str:
        """``source`` inside the policy's params binding, if it has params and reads them."""
        if not self.prefix:
            return source
        masked = sourcetext.masked(source)
        if masked is not None and not joining.PARAMS.search(masked):
            return source
        return f"{self.prefix}{source})"


def _compile_policy(env: cel.Environment, policy: Policy, problems: list[Problem]) -> CompiledPolicy | None:
    compiler = _Compiler(env, policy, problems)
    condition = None
    if policy.match.condition and compiler.check(
        policy.match.condition,
        field="spec.match.condition",
        line=policy.condition_line,
        text=policy.condition_text,
    ):
        condition = compiler.program(policy.match.condition)
    rules = [_compile_rule(compiler, rule) for rule in policy.rules]
    if compiler.failed:
        return None
    return CompiledPolicy(policy=policy, condition=condition, rules=tuple(r for r in rules if r is not None))


def _compile_rule(c: _Compiler, rule: Rule) -> CompiledRule | None:
    base = f"spec.rules[{rule.index}]"
    if rule.message:  # from here on the message is the CEL that produces it
        rule = c.message(
            rule, field=f"{base}.{'messageExpression' if rule.message_expression else 'message'}"
        )
        if not rule.message:
            return None
    ok = True
    for key, source in (
        ("validate", rule.validate),
        ("message", rule.message),
        ("forEach", rule.for_each),
        ("collectFilter", rule.collect_filter),
        *((f"collectVariables.{name}", text) for name, text in rule.collect_variables.items()),
    ):
        line = rule.lines.get(key, rule.source.line)
        if source and not c.check(source, field=f"{base}.{key}", line=line, text=rule.texts.get(key)):
            ok = False
    if not ok:
        return None
    validate = c.program(rule.validate)
    message = c.program(rule.message) if rule.message else None
    findings = None
    if not rule.collect:
        found = joining.findings(rule.validate, rule.message or None, rule.for_each or None)
        findings = c.derived(joining.with_pod_selections(found))
    for_each = each_passes = items_count = set_validate = set_message = set_filter = items_kept = None
    set_variables = items_from = None
    if rule.for_each:
        for_each = c.program(rule.for_each)
        each_passes = c.derived(joining.each_passes(rule.for_each, rule.validate))
        # podSpec selected from the converted object, as the document program reads it
        items_count = c.derived(joining.with_pod_selections(joining.items_count(rule.for_each)))
        items_from = itemsources.item_sources(rule.for_each)
        filtered = itemsources.filtered_sources(rule.for_each) if items_from is None else None
        if filtered is not None:
            base, variable, condition = filtered
            kept = f"({base}).map({variable}, {joining.embedded(condition)})"
            items_kept = c.derived(joining.with_pod_selections(kept))
            items_from = itemsources.item_sources(base) if items_kept is not None else None
    if rule.collect:
        body = f"({rule.for_each}).all(item, {rule.validate})" if rule.for_each else rule.validate
        key = collected_key(c.policy.id, rule.index)
        set_validate = c.program(_per_subject(body, key))
        if rule.message:
            set_message = c.program(_per_subject(rule.message, key))
        if rule.collect_filter:
            # one candidate per call (each call has its own iteration budget), picked by the
            # index leitplanke.subject() returns; `documents` is every candidate
            each = f"cel.bind(item, lpCandidates[{cel.SUBJECT_FUNCTION}()], {rule.collect_filter})"
            if _NAMES["documents"].search(rule.collect_filter):
                each = f"cel.bind(documents, lpCandidates, {each})"
            if _NAMES["variables"].search(rule.collect_filter):
                each = f"cel.bind(variables, lpVariables[{json.dumps(key)}], {each})"
            set_filter = c.program(each)
        if rule.collect_variables:
            # once per namespace, over every candidate (the filter may read them)
            entries = ", ".join(
                f"{json.dumps(name)}: {joining.embedded(text)}"
                for name, text in rule.collect_variables.items()
            )
            set_variables = c.program(f"cel.bind(documents, lpCandidates, {{{entries}}})")
    if validate is None:
        return None
    return CompiledRule(
        rule=rule,
        validate=validate,
        message=message,
        for_each=for_each,
        each_passes=each_passes,
        items_count=items_count,
        findings=findings,
        set_validate=set_validate,
        set_message=set_message,
        set_filter=set_filter,
        set_variables=set_variables,
        items_from=items_from,
        items_kept=items_kept,
    )


_NAMES = {
    name: re.compile(rf"\b{name}\b")
    for name in ("object", "podSpec", "podMeta", "documents", "params", "variables")
}


def collected_key(policy_id: str, rule_index: int) -> str:
    """The key of a set-level rule's documents in ``lpCollected``."""
    return f"{policy_id}/{rule_index}"


def _per_subject(body: str, key: str) -> str:
    """``body`` for the subject whose index ``leitplanke.subject()`` returns.

    A group's activation holds the subjects and collected documents of a namespace, each
    converted to CEL once; a program binds only what ``body`` names (a bind is evaluated).
    """
    spec, meta = joining.pod_selections(
        "lpObjects[i]", "lpPodShapes[i]", spec="lpPodSpecs[i]", meta="lpPodMetas[i]"
    )
    sources = {
        "object": "lpObjects[i]",
        "podSpec": spec,
        "podMeta": meta,
        "documents": f"lpCollected[{json.dumps(key)}]",
        "variables": f"lpVariables[{json.dumps(key)}]",
    }
    wrapped = body
    for name, source in reversed(sources.items()):
        if _NAMES[name].search(body):
            wrapped = f"cel.bind({name}, {source}, {wrapped})"
    return f"cel.bind(i, {cel.SUBJECT_FUNCTION}(), {wrapped})"


def policy_map(compiled: CompiledSet) -> dict[str, Policy]:
    """The policies that run, by id: error-only entries of broken policies left out."""
    return {
        p.id: p.policy for p in compiled.policies if not isinstance(p.foreign, brokenpolicies.BrokenRules)
    }
