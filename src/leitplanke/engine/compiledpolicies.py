"""Compiled policies: the immutable values ``compiling`` builds and every caller reads.

A ``CompiledSet`` holds the environment, the policies and the kind index; ``ForeignRules`` is what a
compatibility front-end (``compat/``) or a broken policy (``brokenpolicies``) evaluates instead of CEL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from leitplanke.core.documents import Document
from leitplanke.core.policies import BrokenPolicy, Policy, Rule
from leitplanke.engine import cel, contexts, itemsources, joining, subjects

ANY_KIND = "*"


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    validate: cel.Program
    message: cel.Program | None
    for_each: cel.Program | None
    # the fast path of a forEach outside the document program: n >= 0 if all n items pass,
    # else joining.NOT_ALL (see ``joining``)
    each_passes: cel.Program | None
    items_count: cel.Program | None  # the number of a forEach's items, -1 if not a list
    findings: cel.Program | None  # the fast path of a rule that does not pass (``joining.findings``)
    set_validate: cel.Program | None  # set-level: validate for the subject of leitplanke.subject()
    set_message: cel.Program | None = None  # set-level: the message, for failing subjects only
    set_filter: cel.Program | None = None  # set-level: collectFilter for lpCandidates[leitplanke.subject()]
    set_variables: cel.Program | None = None  # set-level: collectVariables, a map, once per namespace
    items_from: tuple[itemsources.ItemSource, ...] | None = None  # where forEach items live, when known
    # for a forEach that filters such lists: a bool per listed item, kept or not
    items_kept: cel.Program | None = None
    # derived: the document path of the rule's ``path`` by ``Subject.pod_prefix`` (no item)
    paths: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", subjects.rule_paths(self.rule.path))

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
    code: str = ""  # of an error: stable, e.g. rego-eval (the evaluator says foreign-eval if empty)


class ForeignRules(Protocol):
    """Rules of a policy written for another engine, evaluated by its compatibility module.

    ``compat/`` modules build these; the evaluator calls ``evaluate`` once per matching document
    with the shared CEL environment (for engines whose rules embed CEL) and the request
    around the document (each front-end maps it to what its policies read).
    """

    def evaluate(
        self, document: Document, *, environment: cel.Environment, context: contexts.Context
    ) -> list[ForeignOutcome]: ...


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    policy: Policy
    condition: cel.Program | None
    rules: tuple[CompiledRule, ...]
    foreign: ForeignRules | None = None  # rules a compatibility engine evaluates instead of CEL
    # derived, for the evaluator's hot path: the per-document rules, and what ``match`` asks
    # of a document besides its kind (policies asking the same share one answer per document)
    document_rules: tuple[CompiledRule, ...] = field(init=False)
    match_key: str = field(init=False)
    id: str = field(init=False)

    def __post_init__(self) -> None:
        match = self.policy.match
        object.__setattr__(self, "id", self.policy.id)
        object.__setattr__(self, "document_rules", tuple(r for r in self.rules if not r.is_set_level))
        # text: a string keeps its hash, where a tuple hashes its items again at every lookup
        key: list[Any] = [match.domains, match.api_groups, match.namespaces, match.exclude_namespaces]
        key.append(match.label_selector)
        object.__setattr__(self, "match_key", json.dumps(key, sort_keys=True, default=str))


@dataclass(frozen=True, slots=True)
class CompiledSet:
    """Immutable: the environment, policies and the kind index, shared by threads and workers."""

    environment: cel.Environment
    policies: tuple[CompiledPolicy, ...]
    by_kind: Mapping[str, tuple[CompiledPolicy, ...]]
    params: Mapping[str, Mapping[str, Any]]
    collect_kinds: frozenset[str] = frozenset()
    # one program, in chunks, for every per-document rule of the policies in ``document_slots``
    # (see ``joining.document_programs``), which maps a policy's id to its place in the program
    document_chunks: tuple[joining.Chunk, ...] = ()
    document_slots: Mapping[str, int] = field(default_factory=dict)
    # the policies that could not be built (``brokenpolicies``): with an entry in ``policies``
    # where it is known what they apply to
    broken: tuple[BrokenPolicy, ...] = ()
    # derived: the candidates of every indexed kind, in the order of ``policies``
    _candidates: Mapping[str, tuple[CompiledPolicy, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        order = {id(policy): index for index, policy in enumerate(self.policies)}
        anywhere = self.by_kind.get(ANY_KIND, ())
        candidates = {
            kind: tuple(sorted(found + anywhere, key=lambda p: order[id(p)]))
            for kind, found in self.by_kind.items()
            if kind != ANY_KIND
        }
        object.__setattr__(self, "_candidates", candidates)

    def candidates(self, kind: str) -> tuple[CompiledPolicy, ...]:
        """The policies that may match ``kind``, in the order of ``policies``."""
        found = self._candidates.get(kind)
        return self.by_kind.get(ANY_KIND, ()) if found is None else found

    @property
    def set_level(self) -> tuple[CompiledPolicy, ...]:
        return tuple(p for p in self.policies if any(r.is_set_level for r in p.rules))
