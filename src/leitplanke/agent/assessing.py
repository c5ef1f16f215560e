"""Assessing live objects with the shared engine: one object at a time, set-level rules per namespace.

The agent's policies are compiled once (``load_policies``) and whenever their files change. An object
is evaluated through ``leitplanke.engine.evaluate`` with its Namespace as ``namespaceObject``; set-level
rules (a PodDisruptionBudget for every Deployment) run through ``leitplanke.engine.scan`` over one
namespace's objects, with a set compiled from the policies that have such rules only. Called by
``agent.processing``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from leitplanke import engine
from leitplanke.core.documents import Document
from leitplanke.core.problems import Level, PolicyError
from leitplanke.core.results import Result
from leitplanke.engine import loading

NO_PACKS = "none"


@dataclass(frozen=True, slots=True)
class Policies:
    policy_set: engine.PolicySet
    set_level: engine.PolicySet | None  # the policies with set-level rules; None when there are none
    stamp: tuple[tuple[str, float], ...]  # the policy files and their mtimes, to see them change
    # what they were loaded from: the evaluators' zygote compiles the same again (``agent.forking``)
    paths: tuple[str, ...] = ()
    packs: tuple[str, ...] = ()
    now: datetime | None = None


def load_policies(*, paths: Sequence[str], packs: Sequence[str], now: datetime) -> Policies:
    """The built-in ``packs`` (none named: the default ones; ``none``: none) and the policies under
    ``paths``, compiled; a missing path or an unknown pack is a PolicyError."""
    chosen = [name for name in dict.fromkeys(packs) if name != NO_PACKS] if packs else loading.default_packs()
    loaded = loading.load_packs(chosen, now=now)
    loaded.extend(loading.load_paths(paths, now=now))
    owned = {problem for broken in loaded.broken for problem in broken.problems}
    fatal = [p for p in loaded.problems if p.level is Level.ERROR and p not in owned]
    if fatal:
        raise PolicyError("the agent's policies could not be loaded", problems=tuple(fatal))
    options = engine.CompileOptions(foreign=tuple(loaded.foreign), broken=tuple(loaded.broken))
    policy_set = engine.compile(loaded.policies, options=options)
    with_sets = {policy for policy, _ in policy_set.set_level_rules}
    set_level = None
    if with_sets:
        set_level = engine.compile(
            [p for p in loaded.policies if p.id in with_sets],
            options=engine.CompileOptions(
                foreign=tuple(f for f in loaded.foreign if f.policy.id in with_sets)
            ),
        )
    return Policies(
        policy_set=policy_set,
        set_level=set_level,
        stamp=policy_stamp(paths),
        paths=tuple(paths),
        packs=tuple(packs),
        now=now,
    )


def policy_stamp(paths: Sequence[str]) -> tuple[tuple[str, float], ...]:
    """Every policy file under ``paths`` with its modification time: a change means a reload."""
    found: list[tuple[str, float]] = []
    for path in paths:
        root = Path(path)
        files = [root] if root.is_file() else sorted(root.rglob("*"))
        files = [f for f in files if f.suffix in loading.POLICY_SUFFIXES and f.is_file()]
        for file in files:
            try:
                found.append((str(file), file.stat().st_mtime))
            except OSError:
                continue
    return tuple(found)


def evaluate_object(
    policies: Policies, document: Document, *, namespace_object: Mapping[str, Any] | None
) -> list[Result]:
    """The results of ``document``'s own rules (set-level ones come from ``evaluate_namespace``)."""
    context = engine.Context(namespace_object=namespace_object)
    return engine.evaluate(policies.policy_set, document, context=context)


def evaluate_namespace(
    policies: Policies,
    documents: Sequence[Document],
    *,
    namespace: str,
    namespace_object: Mapping[str, Any] | None,
    now: datetime,
) -> list[Result]:
    """The results of the set-level rules over ``documents`` (one namespace's objects)."""
    if policies.set_level is None or not documents:
        return []
    sink = engine.Collected()
    engine.scan(
        policies.set_level,
        [documents],
        sink,
        load=_documents,
        now=now,
        jobs=1,
        namespaces={namespace: namespace_object} if namespace and namespace_object else None,
    )
    wanted = policies.policy_set.set_level_rules
    return [r for r in sink.results if (r.policy, r.rule) in wanted]


def _documents(documents: Sequence[Document]) -> Sequence[Document]:
    return documents
