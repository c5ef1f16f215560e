"""Compiling policies: every CEL expression compiled once, policies indexed by kind.

Stages: check each expression alone (so problems carry the author's line and
column), then wrap it with its policy's params and compile the program the
evaluator runs. Called by the CLI and ``testing``; feeds ``evaluating``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from leitplanke.core import documents
from leitplanke.core.documents import Document
from leitplanke.core.policies import Policy, Rule
from leitplanke.core.problems import Problem
from leitplanke.engine import cel
from leitplanke.engine.cel import sourcetext

VARIABLES = (
    "object",
    "oldObject",
    "request",
    "podSpec",
    "podMeta",
    "item",
    "params",
    "documents",
    "allParams",
    "subjects",
    "lpObjects",
    "lpPodSpecs",
    "lpPodMetas",
    "lpCollected",
    "lpCandidates",
    "subjectNamespace",
    "lpOn",
    "lpPod",
    "lpPodShapes",
    "variables",
    "lpVariables",
)
ANY_KIND = "*"


# one term of a forEach that only concatenates lists of the document: `podSpec.containers`,
# `podSpec.?initContainers.orValue([])`; evaluation then knows each item's path without searching
_TERM = re.compile(r"^(object|podSpec|podMeta)((?:\.\??[A-Za-z_][A-Za-z0-9_]*)+)(\.orValue\(\[\]\))?$")
ItemSource = tuple[str, tuple[str, ...]]


def item_sources(for_each: str) -> tuple[ItemSource, ...] | None:
    """The (root, keys) of every list a forEach concatenates, or None if it does more than that."""
    terms = []
    for term in _unwrapped(for_each).split("+"):
        found = _TERM.match(term.strip())
        if found is None:
            return None
        keys = tuple(key.lstrip("?") for key in found[2].split(".")[1:])
        optional = "?" in found[2]
        if optional != bool(found[3]):
            return None  # `a.?b` without orValue, or orValue on a plain path: not a plain list
        terms.append((found[1], keys))
    return tuple(terms)


_FILTER = re.compile(r"\.\s*filter\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")


def filtered_sources(for_each: str) -> tuple[str, str, str] | None:
    """``(base, variable, condition)`` of a forEach ``base.filter(variable, condition)`` whose
    base only concatenates lists of the document (see ``item_sources``), else None."""
    text = for_each.strip()
    for found in _FILTER.finditer(text):
        base = text[: found.start()]
        opening = text.index("(", found.start())
        if sourcetext.closing(text, opening) == len(text) - 1 and item_sources(base) is not None:
            return base, found[1], text[found.end() : -1]
    return None


def _unwrapped(text: str) -> str:
    """``text`` without parentheses around all of it."""
    text = text.strip()
    while text.startswith("(") and sourcetext.closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    validate: cel.Program
    message: cel.Program | None
    for_each: cel.Program | None
    each_validate: cel.Program | None  # one call for all items: a string with p or f per item
    each_message: cel.Program | None
    set_validate: cel.Program | None  # set-level: validate for the subject of leitplanke.subject()
    set_message: cel.Program | None = None  # set-level: the message, for failing subjects only
    set_filter: cel.Program | None = None  # set-level: collectFilter for lpCandidates[leitplanke.subject()]
    set_variables: cel.Program | None = None  # set-level: collectVariables, a map, once per namespace
    items_from: tuple[ItemSource, ...] | None = None  # where forEach items live, when known
    # for a forEach that filters such lists: 'y' or 'n' per listed item, kept or not
    items_kept: cel.Program | None = None

    @property
    def is_set_level(self) -> bool:
        return bool(self.rule.collect)


@dataclass(frozen=True, slots=True)
class ForeignOutcome:
    """One rule's outcome from a compatibility engine (Kyverno patterns, Rego, …)."""

    rule: str
    verdict: str  # pass | fail | warn | error | skip
    message: str = ""
    path: str = ""


class ForeignRules(Protocol):
    """Rules of a policy written for another engine, evaluated by its compatibility module.

    ``compat/`` modules build these; the evaluator calls ``evaluate`` once per matching document
    with the shared CEL environment (for engines whose rules embed CEL).
    """

    def evaluate(self, document: Document, *, environment: cel.Environment) -> list[ForeignOutcome]: ...


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    policy: Policy
    condition: cel.Program | None
    rules: tuple[CompiledRule, ...]
    foreign: ForeignRules | None = None  # rules a compatibility engine evaluates instead of CEL
    # derived, for the evaluator's hot path: the per-document rules, and what ``match`` asks
    # of a document besides its kind (policies asking the same share one answer per document)
    document_rules: tuple[CompiledRule, ...] = field(init=False)
    match_key: tuple[Any, ...] = field(init=False)

    def __post_init__(self) -> None:
        match = self.policy.match
        object.__setattr__(self, "document_rules", tuple(r for r in self.rules if not r.is_set_level))
        object.__setattr__(
            self,
            "match_key",
            (
                match.domains,
                match.api_groups,
                match.namespaces,
                match.exclude_namespaces,
                json.dumps(match.label_selector, sort_keys=True, default=str),
            ),
        )

    @property
    def id(self) -> str:
        return self.policy.id


@dataclass(slots=True)
class CompiledSet:
    """Immutable after ``compile_policies``: the environment, policies and the kind index."""

    environment: cel.Environment
    policies: tuple[CompiledPolicy, ...]
    by_kind: Mapping[str, tuple[CompiledPolicy, ...]]
    params: Mapping[str, Mapping[str, Any]]
    collect_kinds: frozenset[str] = field(default_factory=frozenset)
    # one program for every per-document rule of the policies in ``document_slots`` (see
    # ``document_program``), which maps a policy's id to its place in the program
    document_program: cel.Program | None = None
    document_slots: Mapping[str, int] = field(default_factory=dict)
    _candidates: dict[str, tuple[CompiledPolicy, ...]] = field(default_factory=dict)

    def candidates(self, kind: str) -> tuple[CompiledPolicy, ...]:
        """The policies that may match ``kind``, in the order of ``policies``."""
        found = self._candidates.get(kind)
        if found is None:
            order = {id(policy): index for index, policy in enumerate(self.policies)}
            either = self.by_kind.get(kind, ()) + self.by_kind.get(ANY_KIND, ())
            found = self._candidates[kind] = tuple(sorted(either, key=lambda p: order[id(p)]))
        return found

    @property
    def set_level(self) -> tuple[CompiledPolicy, ...]:
        return tuple(p for p in self.policies if any(r.is_set_level for r in p.rules))


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
    """Compile native policies; ``foreign`` ones (already built by ``compat``) join the index as they are."""
    env = environment or build_environment()
    problems: list[Problem] = []
    compiled: list[CompiledPolicy] = list(foreign)
    seen: dict[str, Policy] = {}
    for policy in policies:
        if not policy.enabled:
            continue
        if policy.id in seen:
            first = seen[policy.id].source
            problems.append(
                Problem(
                    policy.source.file,
                    policy.source.line,
                    "duplicate-policy",
                    f"policy {policy.id!r} is already defined at {first.file}:{first.line}",
                    field="metadata.name",
                )
            )
            continue
        seen[policy.id] = policy
        result = _compile_policy(env, policy, problems)
        if result is not None:
            compiled.append(result)
    index: dict[str, list[CompiledPolicy]] = {}
    for item in compiled:
        for kind in item.policy.match.kinds or (ANY_KIND,):
            index.setdefault(kind, []).append(item)
    collect = frozenset(kind for p in compiled for r in p.rules for kind in r.rule.collect)
    program, slots = document_program(env, compiled)
    env.save()
    return (
        CompiledSet(
            environment=env,
            policies=tuple(compiled),
            by_kind={kind: tuple(items) for kind, items in index.items()},
            params={p.id: dict(p.policy.params) for p in compiled},
            collect_kinds=collect,
            document_program=program,
            document_slots=slots,
        ),
        problems,
    )


def document_program(
    env: cel.Environment, policies: Sequence[CompiledPolicy]
) -> tuple[cel.Program | None, dict[str, int]]:
    """One program for the per-document rules of every policy that can join it, and each
    joined policy's slot: a document then costs one call into the runtime, not one per rule.

    The program is a string. Slot ``i`` adds nothing unless ``lpOn[i]`` (the policy matches
    the document), ``-`` if the policy's condition is false, and else a token per rule:
    ``p``, or ``f`` with the message as ``<length>:<text>``, and for a forEach rule a token
    per item and ``;`` (read by ``evaluating._Joined``). Binds are eager (``cel.sourcetext``), so a
    value the original program would not have needed may fail it: an error means "evaluate
    rule by rule", which gives every result its own verdict and message as before. Policies
    of other engines, and those whose text cannot be rewritten or compiled, are not joined.
    """
    parts = [(p, part) for p in policies if (part := _document_part(p)) is not None]
    while parts:
        joined = ", ".join(f"lpOn[{slot}] ? ({part}) : ''" for slot, (_, part) in enumerate(parts))
        program = env.compile(_with_pod_selections(f"[{joined}].join()"))
        if isinstance(program, cel.Program):
            return program, {policy.id: slot for slot, (policy, _) in enumerate(parts)}
        # a part the checker refuses (a verdict typed as a string, say) or nested too deep
        fine = [(p, part) for p, part in parts if isinstance(env.compile(f"[{part}].join()"), cel.Program)]
        if len(fine) == len(parts):
            break
        parts = fine
    return None, {}


def pod_selections(subject: str, shape: str, *, spec: str, meta: str) -> tuple[str, str]:
    """CEL for the pod spec and the pod metadata of ``subject`` when ``shape`` is a pod shape
    (``evaluating.Subject.pod_shape``), else for ``spec`` and ``meta``.

    A variable is converted to CEL whole when first read: selecting the pod spec from the
    converted object spares converting it a second time.
    """
    for index, path in reversed(list(enumerate(documents.POD_PATHS, start=1))):
        spec = f"{shape} == {index} ? {'.'.join((subject, *path))} : ({spec})"
        meta = f"{shape} == {index} ? {'.'.join((subject, *path[:-1]))}.?metadata.orValue({{}}) : ({meta})"
    return spec, meta


def _with_pod_selections(source: str) -> str:
    """``source`` with podSpec and podMeta selected from ``object`` where the document's shape
    allows (``lpPod``): converted once, with it. Eager binds: no stale slot to read."""
    spec, meta = pod_selections("object", "lpPod", spec="podSpec", meta="podMeta")
    return f"[{spec}].map(podSpec, [{meta}].map(podMeta, {source})[0])[0]"


def _document_part(policy: CompiledPolicy) -> str | None:
    """The text of one policy's slot in the document program, or None if it cannot join."""
    if policy.foreign is not None or not policy.document_rules:
        return None
    tokens = []
    for compiled_rule in policy.document_rules:
        rule = compiled_rule.rule
        failed = "'f'"
        if rule.message:
            text = _embedded(rule.message)
            failed = f"[{text}].map(lpMessage, 'f' + string(size(lpMessage)) + ':' + lpMessage)[0]"
        verdict = f"{_embedded(rule.validate)} ? 'p' : {failed}"
        if rule.for_each:
            tokens.append(f"{_embedded(rule.for_each)}.map(item, {verdict}).join() + ';'")
        else:
            tokens.append(verdict)
    body = f"[{', '.join(tokens)}].join()"
    condition = policy.policy.match.condition
    if condition:
        body = f"{_embedded(condition)} ? {body} : '-'"
    masked = sourcetext.masked(body)
    if masked is None:
        return None
    rewritten = sourcetext.eager_binds(body, text=masked)
    if rewritten is not None and policy.policy.params and _NAMES["params"].search(masked):
        rewritten = f"[{params_value(policy.policy)}].map(params, {rewritten})[0]"  # an eager bind
    return rewritten


def _embedded(source: str) -> str:
    """``source`` as an operand: in parentheses, a newline ending a comment on its last line."""
    return f"({source}\n)"


def params_value(policy: Policy) -> str:
    """What ``params`` is bound to in the policy's programs: a literal if CEL has one for it."""
    return cel.literal(dict(policy.params)) or f"allParams[{json.dumps(policy.id)}]"


class _Compiler:
    def __init__(self, env: cel.Environment, policy: Policy, problems: list[Problem]) -> None:
        self.env = env
        self.policy = policy
        self.problems = problems
        self.failed = False
        self.prefix = ""
        if policy.params:
            # params are constants: a literal in the program, not a variable converted per document
            self.prefix = f"cel.bind(params, {params_value(policy)}, "

    def check(self, source: str, *, field: str, line: int) -> bool:
        result = self.env.compile(source)
        if isinstance(result, cel.CelIssue):
            self.failed = True
            self.problems.append(
                Problem(
                    self.policy.source.file,
                    line + result.line - 1,
                    "cel-compile",
                    result.message,
                    field=field,
                    column=result.column,
                )
            )
            return False
        return True

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
        if masked is not None and not _NAMES["params"].search(masked):
            return source
        return f"{self.prefix}{source})"


def _compile_policy(env: cel.Environment, policy: Policy, problems: list[Problem]) -> CompiledPolicy | None:
    compiler = _Compiler(env, policy, problems)
    condition = None
    if policy.match.condition and compiler.check(
        policy.match.condition, field="spec.match.condition", line=policy.condition_line
    ):
        condition = compiler.program(policy.match.condition)
    rules = [_compile_rule(compiler, rule) for rule in policy.rules]
    if compiler.failed:
        return None
    return CompiledPolicy(policy=policy, condition=condition, rules=tuple(r for r in rules if r is not None))


def _compile_rule(c: _Compiler, rule: Rule) -> CompiledRule | None:
    base = f"spec.rules[{rule.index}]"
    ok = True
    for key, source in (
        ("validate", rule.validate),
        ("message", rule.message),
        ("forEach", rule.for_each),
        ("collectFilter", rule.collect_filter),
        *((f"collectVariables.{name}", text) for name, text in rule.collect_variables.items()),
    ):
        line = rule.lines.get(key, rule.source.line)
        if source and not c.check(source, field=f"{base}.{key}", line=line):
            ok = False
    if not ok:
        return None
    validate = c.program(rule.validate)
    message = c.program(rule.message) if rule.message else None
    for_each = each_validate = each_message = set_validate = set_message = set_filter = items_kept = None
    set_variables = None
    items_from = None
    if rule.for_each:
        for_each = c.program(rule.for_each)
        # one string of verdicts ("ppf"): converting a list of bools back to Python costs more
        # than the evaluation; a non-bool verdict or an error fails the whole call instead
        each_validate = c.program(f"({rule.for_each}).map(item, ({rule.validate}) ? 'p' : 'f').join()")
        if rule.message:
            # messages of failing items only: a message may read fields only they have
            each_message = c.derived(
                f"({rule.for_each}).map(item, ({rule.validate}) ? '' : ({rule.message}))"
            ) or c.program(f"({rule.for_each}).map(item, {rule.message})")
        items_from = item_sources(rule.for_each)
        filtered = filtered_sources(rule.for_each) if items_from is None else None
        if filtered is not None:
            base, variable, condition = filtered
            kept = f"({base}).map({variable}, ({condition}) ? 'y' : 'n').join()"
            items_kept = c.derived(_with_pod_selections(kept))
            items_from = item_sources(base) if items_kept is not None else None
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
                f"{json.dumps(name)}: {_embedded(text)}" for name, text in rule.collect_variables.items()
            )
            set_variables = c.program(f"cel.bind(documents, lpCandidates, {{{entries}}})")
    if validate is None:
        return None
    return CompiledRule(
        rule=rule,
        validate=validate,
        message=message,
        for_each=for_each,
        each_validate=each_validate,
        each_message=each_message,
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
    spec, meta = pod_selections("lpObjects[i]", "lpPodShapes[i]", spec="lpPodSpecs[i]", meta="lpPodMetas[i]")
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
    return {p.id: p.policy for p in compiled.policies}


def all_policies(compiled: Iterable[CompiledPolicy]) -> list[Policy]:
    return [p.policy for p in compiled]
