"""Collecting: set-level rules (``collect``), which see other documents of the same scan.

``scanning`` keeps the documents these rules need (``keeps``) while it evaluates the others and
spills them to disk (``spilling``), then calls ``evaluate_set_level``: one partition (a
namespace, or the whole scan) read back per task, its subjects grouped by the documents they
see, in forked workers when there are several.
"""

from __future__ import annotations

import functools
import marshal
import pickle
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.documents import Document
from leitplanke.core.results import Result, Verdict
from leitplanke.engine import cel, compiling, evaluating, forking, matching, pssversions
from leitplanke.engine.compiling import CompiledPolicy, CompiledRule, CompiledSet


@dataclass(frozen=True, slots=True)
class Keeping:
    """Which documents set-level rules need, and the lines their results may point at."""

    kinds: frozenset[str]
    paths: Mapping[str, tuple[str, ...]]  # by subject kind ("*": any)

    def keeps(self, doc: Document, subject: evaluating.Subject | None) -> Kept | None:
        """``doc`` (as evaluated: ``subject``) kept for set-level rules, or None if none needs it."""
        kinds = self.kinds
        if doc.kind not in kinds and "*" not in kinds:
            return None
        return _portable(doc, self.paths.get(doc.kind, ()) + self.paths.get("*", ()), subject)


def keeping(compiled: CompiledSet) -> Keeping:
    """What a scan keeps for the set-level rules of ``compiled``."""
    set_policies = compiled.set_level
    keep = set(compiled.collect_kinds)
    for policy in set_policies:
        keep.update(policy.policy.match.kinds or ("*",))
    # only a set-level rule's subjects get results: a kept document needs the lines of the
    # rules of the policies that match its kind, not of every set-level rule
    paths: dict[str, tuple[str, ...]] = {}
    for policy in set_policies:
        rule_paths = tuple(r.rule.path for r in policy.rules if r.rule.path)
        for kind in policy.policy.match.kinds or ("*",):
            paths[kind] = paths.get(kind, ()) + rule_paths
    return Keeping(kinds=frozenset(keep), paths=paths)


# what a partition's results become in its worker (waived, sorted, prepared for the sink)
Finish = Callable[[list[Result]], Any]


def evaluate_set_level(
    compiled: CompiledSet,
    partitions: Sequence[str],
    read: Callable[[str], list[Kept]],
    *,
    namespaced: bool,
    jobs: int,
    finish: Finish,
) -> Iterator[tuple[Any, int]]:
    """What ``finish`` makes of the results of set-level rules, and their evaluations, a
    partition at a time: a namespace (``namespaced``: its subjects, the documents they see),
    or the whole scan. ``read`` gives a partition's kept documents in report order.

    Forked workers share the partitions when there are several; put the largest first.
    """
    evaluate = functools.partial(_evaluate_partition, compiled, read, namespaced, finish)
    if jobs <= 1 or len(partitions) < 2:
        yield from map(evaluate, partitions)
        return
    yield from forking.forked_map(evaluate, partitions, processes=jobs)


def _evaluate_partition(
    compiled: CompiledSet,
    read: Callable[[str], list[Kept]],
    namespaced: bool,
    finish: Finish,
    partition: str,
) -> tuple[Any, int]:
    kept = read(partition)
    out: list[Result] = []  # errors of match conditions, then the groups' results
    evaluations = 0
    for group in _set_groups(compiled, kept, out, namespace=partition if namespaced else None):
        results, counted = _evaluate_group(compiled, group)
        out.extend(results)
        evaluations += counted
    return finish(out), evaluations


@dataclass(frozen=True, slots=True)
class Kept:
    """A document kept for set-level rules, small enough to spill and read back quickly.

    ``doc`` has what matching and grouping read (apiVersion, kind, name, namespace, labels)
    and the lines set-level rules may report; the body travels and waits as bytes, and is
    read back where its group is evaluated.
    """

    doc: Document
    body: bytes
    kind: str = ""  # the document's, read once: grouping asks for them hundreds of thousands of times
    namespace: str = ""
    # where its set-level documents are: its name for a Namespace, its namespace otherwise
    home: str = ""

    def load(self, bodies: dict[int, Any] | None = None) -> Document:
        """The document with its body read back; ``bodies`` (by ``id`` of the ``Kept``) keeps
        bodies already read, so that a document several rules see is read back once."""
        body = None if bodies is None else bodies.get(id(self))
        if body is None:
            body = _thawed(self.body)
            if bodies is not None:
                bodies[id(self)] = body
        return Document(body=body, origin=self.doc.origin, domain=self.doc.domain)


def _portable(doc: Document, paths: Sequence[str], subject: evaluating.Subject | None = None) -> Kept:
    subject = subject or evaluating.build_subject(doc)
    resolved = [evaluating.resolve_path(path, subject, item_path="") for path in paths]
    metadata = doc.metadata
    identity = {
        "apiVersion": doc.body.get("apiVersion"),
        "kind": doc.body.get("kind"),
        "metadata": {key: metadata[key] for key in ("name", "namespace", "labels") if key in metadata},
    }
    kind, namespace = doc.kind, doc.namespace
    return Kept(
        Document(body=identity, origin=doc.origin.frozen(resolved), domain=doc.domain),
        _frozen(doc.body),
        kind,
        namespace,
        doc.name if kind == "Namespace" else namespace,
    )


def _frozen(body: Any) -> bytes:
    """A document body as bytes: marshal (faster both ways) for the plain values bodies hold,
    pickle for anything else; the first byte says which."""
    try:
        return b"m" + marshal.dumps(body)
    except ValueError:
        return b"p" + pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL)


def _thawed(data: bytes) -> Any:
    return marshal.loads(data[1:]) if data[:1] == b"m" else pickle.loads(data[1:])


@dataclass(slots=True)
class _SetGroup:
    """Subjects that see the same documents (a namespace, or the whole scan), with those documents.

    One CEL activation per group holds every subject and every rule's documents, each
    converted once; a program picks its subject by the index ``leitplanke.subject()`` returns.
    """

    namespace: str = ""  # of every subject, for namespace-scoped rules
    subjects: list[Kept] = field(default_factory=list)
    collected: dict[str, list[Kept]] = field(default_factory=dict)  # collected_key -> documents
    tasks: list[tuple[CompiledPolicy, CompiledRule, int]] = field(default_factory=list)
    _index: dict[int, int] = field(default_factory=dict)

    def add(self, position: int, subject: Kept) -> int:
        index = self._index.get(position)
        if index is None:
            index = self._index[position] = len(self.subjects)
            self.subjects.append(subject)
        return index


def _set_groups(
    compiled: CompiledSet, kept: Sequence[Kept], out: list[Result], *, namespace: str | None = None
) -> list[_SetGroup]:
    """Every (rule, subject) of the set-level policies, grouped by the documents the subject sees.

    ``kept`` is in report order; a policy's failing match condition becomes an error result in
    ``out``. ``namespace``: only the subjects in it (``kept`` holds the documents they see).
    """
    groups: dict[tuple[bool, str], _SetGroup] = {}
    answers: dict[tuple[Any, int], bool] = {}
    by_kind: dict[str, list[tuple[int, Kept]]] = {}
    everything: list[tuple[int, Kept]] = []
    for position, k in enumerate(kept):
        if namespace is None or k.namespace == namespace:
            by_kind.setdefault(k.kind, []).append((position, k))
            everything.append((position, k))
    for policy in compiled.set_level:
        kinds = policy.policy.match.kinds
        candidates = sorted(c for kind in kinds for c in by_kind.get(kind, ())) if kinds else everything
        members = []
        for position, k in candidates:  # policies matching alike share one check per document
            answer = answers.get((policy.match_key, position))
            if answer is None:
                answer = answers[(policy.match_key, position)] = matching.matches(policy.policy.match, k.doc)
            if answer:
                members.append((position, k))
        if policy.condition is not None:
            members = [(i, k) for i, k in members if _condition_holds(compiled, policy, k, out)]
        for rule in policy.rules:
            if not rule.is_set_level:
                continue
            by_namespace = rule.rule.collect_scope == "namespace"
            documents = _rule_documents(rule, kept, by_namespace=by_namespace)
            key = compiling.collected_key(policy.id, rule.rule.index)
            for position, subject in members:
                namespace = subject.namespace if by_namespace else ""
                group = groups.get((by_namespace, namespace))
                if group is None:
                    group = groups[(by_namespace, namespace)] = _SetGroup(namespace=namespace)
                if key not in group.collected:
                    group.collected[key] = documents(namespace)
                group.tasks.append((policy, rule, group.add(position, subject)))
    return [groups[key] for key in sorted(groups)]


def _filtered(
    compiled: CompiledSet, group: _SetGroup, bodies: dict[int, Any]
) -> tuple[dict[str, list[Any]], dict[str, Any], dict[str, str]]:
    """Each rule's document bodies with its ``collectFilter`` applied and its
    ``collectVariables``, once for the whole group, and the message of each filter or
    variable that failed (its rule's subjects get an error result).

    ``bodies`` holds the group's documents, read back, by ``id`` of their ``Kept``: a document
    that is a subject and collected, or collected by several rules, is read back once.
    """
    collected = {key: [k.load(bodies).body for k in documents] for key, documents in group.collected.items()}
    variables: dict[str, Any] = {}
    failed: dict[str, str] = {}
    done: set[str] = set()
    environment = compiled.environment
    for policy, rule, _ in group.tasks:
        key = compiling.collected_key(policy.id, rule.rule.index)
        if key in done or (rule.set_filter is None and rule.set_variables is None):
            continue
        done.add(key)
        candidates = collected[key]
        data = _set_bindings(compiled)
        data.update(lpCandidates=candidates, subjectNamespace=group.namespace)
        if rule.set_variables is not None:
            found = rule.set_variables.evaluate(environment.activation(data))
            if found.__class__ is cel.CelFailure:
                failed[key] = f"collectVariables failed: {found.message}"
                continue
            variables[key] = found
        if rule.set_filter is None:
            continue
        data.update(lpVariables={key: variables[key]} if key in variables else {})
        activation = environment.activation(data)
        kept: list[Any] = []
        for index, body in enumerate(candidates):
            environment.set_subject(index)
            holds = rule.set_filter.evaluate_bool(activation)
            if holds.__class__ is cel.CelFailure:
                failed[key] = f"collectFilter failed: {holds.message}"
                break
            if holds:
                kept.append(body)
        collected[key] = kept
    return collected, variables, failed


def _rule_documents(
    rule: CompiledRule, kept: Sequence[Kept], *, by_namespace: bool
) -> Callable[[str], list[Kept]]:
    """The documents a rule's subjects see, by namespace: its collected kinds, in report order.

    A Namespace object counts as in itself; kinds in ``collect_cluster`` are seen from
    every namespace, after the namespace's own documents.
    """
    collected = [k for k in kept if k.kind in rule.rule.collect]
    if not by_namespace:
        return lambda namespace: collected
    everywhere = rule.rule.collect_cluster
    shared = [k for k in collected if k.kind in everywhere]
    by_key: dict[str, list[Kept]] = {}
    for k in collected:
        if k.kind not in everywhere:
            by_key.setdefault(k.home, []).append(k)
    return lambda namespace: by_key.get(namespace, []) + shared


# subjects converted for CEL at once: a namespace of a large scan holds thousands, and its
# collected documents are converted again for each chunk (few next to the subjects)
_SUBJECTS_AT_ONCE = 500


def _evaluate_group(compiled: CompiledSet, group: _SetGroup) -> tuple[list[Result], int]:
    bodies: dict[int, Any] = {}
    collected, variables, failed = _filtered(compiled, group, bodies)
    chunks: dict[int, list[tuple[CompiledPolicy, CompiledRule, int]]] = {}
    for task in group.tasks:
        chunks.setdefault(task[2] // _SUBJECTS_AT_ONCE, []).append(task)
    out: list[Result] = []
    for chunk, tasks in sorted(chunks.items()):
        first = chunk * _SUBJECTS_AT_ONCE
        # a subject that is collected too is read back once; the others only for their chunk
        subjects = [
            evaluating.build_subject(k.load(bodies) if id(k) in bodies else k.load())
            for k in group.subjects[first : first + _SUBJECTS_AT_ONCE]
        ]
        out.extend(_evaluate_chunk(compiled, tasks, first, subjects, (collected, variables, failed)))
    return out, len(group.tasks)


def _evaluate_chunk(
    compiled: CompiledSet,
    tasks: list[tuple[CompiledPolicy, CompiledRule, int]],
    first: int,
    subjects: list[evaluating.Subject],
    filtered: tuple[dict[str, list[Any]], dict[str, Any], dict[str, str]],
) -> list[Result]:
    """The results of ``tasks``, whose subjects are ``subjects`` from the group's ``first`` on."""
    collected, variables, failed = filtered
    data = _set_bindings(compiled)
    data.update(
        lpVariables=variables,
        lpObjects=[s.doc.body for s in subjects],
        lpPodSpecs=[s.pod_spec for s in subjects],
        lpPodMetas=[s.pod_meta for s in subjects],
        lpPodShapes=[s.pod_shape for s in subjects],
        lpCollected=collected,
    )
    environment = compiled.environment
    activation = environment.activation(data)
    out: list[Result] = []
    for policy, rule, index in tasks:
        assert rule.set_validate is not None
        subject = subjects[index - first]
        failure = failed.get(compiling.collected_key(policy.id, rule.rule.index))
        if failure is not None:
            out.append(_set_result(policy, rule, subject, cel.CelFailure(failure), ""))
            continue
        environment.set_subject(index - first)
        verdict = rule.set_validate.evaluate_bool(activation)
        text = policy.policy.title
        if verdict is False and rule.set_message is not None:
            text = _set_message(rule.set_message, activation, default=text)
        out.append(_set_result(policy, rule, subject, verdict, text))
    return out


def _condition_holds(compiled: CompiledSet, policy: CompiledPolicy, kept: Kept, out: list[Result]) -> bool:
    """The policy's match condition for one subject; a failing condition is an error result."""
    assert policy.condition is not None
    subject = evaluating.build_subject(kept.load())
    data = _set_bindings(compiled)
    data.update(subject.bindings())
    holds = policy.condition.evaluate_bool(compiled.environment.activation(data))
    if isinstance(holds, cel.CelFailure):
        out.append(evaluating.error_result(policy, evaluating.MATCH_RULE, subject, holds.message, ""))
        return False
    return holds


def _set_message(program: cel.Program, activation: Any, *, default: str) -> str:
    text = program.evaluate(activation)
    if isinstance(text, cel.CelFailure):
        return f"{default} (message failed: {text.message})"
    return str(text)


def _set_bindings(compiled: CompiledSet) -> dict[str, Any]:
    return {
        "object": None,
        "oldObject": None,
        "request": None,
        "podSpec": None,
        "podMeta": None,
        "item": None,
        "params": {},
        "allParams": compiled.params,
        "pssVersion": pssversions.LATEST_MINOR,
        "documents": [],  # a set-level program binds its own (lpCollected)
        "subjects": [],
    }


def _set_result(
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: evaluating.Subject,
    verdict: bool | cel.CelFailure,
    message: str,
) -> Result:
    path = evaluating.resolve_path(rule.rule.path, subject, item_path="")
    if isinstance(verdict, cel.CelFailure):
        return evaluating.error_result(policy, rule.rule.name, subject, verdict.message, path)
    if verdict:
        return evaluating.make_result(policy, rule, subject, Verdict.PASS, "", path)
    return evaluating.failing_result(policy, rule, subject, message, path)
