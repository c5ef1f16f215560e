"""Inventories: what the agent knows of the cluster, object by object, with each object's verdicts.

An ``Entry`` per live object: its resourceVersion (an unchanged one is not evaluated again), its body
as compact JSON (for re-evaluation when policies or its Namespace change, and for set-level rules),
its results and the (app, env) it is uploaded for. Indexed by namespace and by scope. Written only by
``agent.processing``'s thread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from leitplanke.core.results import Result

# group, resource, namespace, name
ObjectKey = tuple[str, str, str, str]
Scope = tuple[str, str]  # app, env


@dataclass(slots=True)
class Entry:
    version: str
    body: bytes  # the object as compact JSON, without managedFields
    kind: str
    results: list[Result] = field(default_factory=list)  # its own rules' results
    set_results: list[Result] = field(default_factory=list)  # set-level rules' results about it
    scope: Scope | None = None

    def document(self) -> dict[str, Any]:
        body: dict[str, Any] = orjson.loads(self.body)
        return body

    @property
    def all_results(self) -> list[Result]:
        return [*self.results, *self.set_results]


@dataclass(slots=True)
class Inventory:
    entries: dict[ObjectKey, Entry] = field(default_factory=dict)
    by_namespace: dict[str, set[ObjectKey]] = field(default_factory=dict)
    by_scope: dict[Scope, set[ObjectKey]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # Namespace objects by name

    def put(self, key: ObjectKey, entry: Entry) -> None:
        self.drop(key)
        self.entries[key] = entry
        self.by_namespace.setdefault(key[2], set()).add(key)
        if entry.scope is not None:
            self.by_scope.setdefault(entry.scope, set()).add(key)

    def drop(self, key: ObjectKey) -> Entry | None:
        entry = self.entries.pop(key, None)
        if entry is None:
            return None
        _discard(self.by_namespace, key[2], key)
        if entry.scope is not None:
            _discard(self.by_scope, entry.scope, key)
        return entry

    def in_namespace(self, namespace: str) -> Iterator[tuple[ObjectKey, Entry]]:
        """The entries of ``namespace`` ("": cluster-scoped), by key."""
        for key in sorted(self.by_namespace.get(namespace, ())):
            yield key, self.entries[key]

    def in_scope(self, scope: Scope) -> Iterator[Entry]:
        for key in sorted(self.by_scope.get(scope, ())):
            yield self.entries[key]

    def keys_of(self, group: str, resource: str) -> set[ObjectKey]:
        return {key for key in self.entries if key[0] == group and key[1] == resource}


def _discard(index: dict[Any, set[ObjectKey]], name: Any, key: ObjectKey) -> None:
    keys = index.get(name)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[name]


def compact(body: dict[str, Any]) -> bytes:
    """``body`` as kept: compact JSON, without the managedFields no policy reads (and that are large)."""
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        body = {**body, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    return orjson.dumps(body)
