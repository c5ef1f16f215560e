"""Inventories: what the agent knows of the cluster, object by object, with each object's verdicts.

An ``Entry`` per live object: its resourceVersion (an unchanged one is not evaluated again), its body
as compact JSON (for re-evaluation when policies or its Namespace change, and for set-level rules),
its results, the (app, env) it is uploaded for and, when drift needs them, a few of its managedFields.
Indexed by namespace and by scope. Written only by ``agent.processing``'s thread.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict

# group, resource, namespace, name
ObjectKey = tuple[str, str, str, str]
Scope = tuple[str, str]  # app, env


# a passing result without the object it is about: shared by every object that passes the same way
Pass = tuple[str, str, Severity, str, str, str, tuple[str, ...]]  # policy, rule, severity, message, path,
# category, controls


@dataclass(slots=True)
class Entry:
    """One live object. Its passes (most of its results) are kept as shared ``Pass`` tuples and its body
    compressed: 50,000 objects must fit in a few hundred MiB."""

    version: str
    body: bytes  # the object as compact JSON without managedFields, zlib-compressed
    kind: str
    results: list[Result] = field(default_factory=list)  # its own rules' results that are not plain passes
    passes: tuple[Pass, ...] = ()
    resource: Resource | None = None  # of its passes
    file: str = ""  # their location's file
    set_results: list[Result] = field(default_factory=list)  # set-level rules' results about it
    scope: Scope | None = None
    # the managedFields entries drift's ignore rules read (manager and fieldsV1 only), compressed like
    # the body; b"" for the objects no rule with managedFieldsManagers matches (nearly all)
    managed: bytes = b""

    def document(self, *, managed_fields: bool = False) -> dict[str, Any]:
        """Its body; with ``managed_fields``, with the managedFields entries it keeps."""
        body: dict[str, Any] = orjson.loads(zlib.decompress(self.body))
        if managed_fields and self.managed:
            body.setdefault("metadata", {})["managedFields"] = orjson.loads(zlib.decompress(self.managed))
        return body

    @property
    def all_results(self) -> list[Result]:
        """Its results (passes rebuilt), then those of set-level rules."""
        rebuilt = []
        if self.passes and self.resource is not None:
            resource, file = self.resource, self.file
            rebuilt = [
                Result(
                    policy,
                    rule,
                    resource,
                    Verdict.PASS,
                    severity,
                    message,
                    Location(file, 0, path),
                    category=category,
                    controls=controls,
                )
                for policy, rule, severity, message, path, category, controls in self.passes
            ]
        return [*self.results, *rebuilt, *self.set_results]


@dataclass(slots=True)
class Inventory:
    entries: dict[ObjectKey, Entry] = field(default_factory=dict)
    by_namespace: dict[str, set[ObjectKey]] = field(default_factory=dict)
    by_scope: dict[Scope, set[ObjectKey]] = field(default_factory=dict)
    namespaces: dict[str, dict[str, Any]] = field(default_factory=dict)  # Namespace objects by name
    shared_passes: dict[Pass, Pass] = field(default_factory=dict)

    def build_entry(
        self,
        *,
        version: str,
        body: dict[str, Any],
        verdicts: Verdicts,
        scope: Scope | None,
        managed: list[dict[str, Any]] | None = None,
    ) -> Entry:
        """The entry of ``body`` with its ``verdicts`` (their passes shared with every other entry's) and
        the ``managed`` fields to keep of it."""
        shared = self.shared_passes
        return Entry(
            version=version,
            body=compact(body),
            kind=str(body.get("kind", "")),
            results=verdicts.results,
            passes=tuple(shared.setdefault(key, key) for key in verdicts.passes),
            resource=verdicts.resource,
            file=verdicts.file,
            scope=scope,
            managed=zlib.compress(orjson.dumps(managed), 1) if managed else b"",
        )

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


class Verdicts(NamedTuple):
    """An object's results as an ``Entry`` keeps them: built where it is evaluated (in the evaluator
    process: its passes then travel back as a few shared tuples, not as thousands of ``Result``)."""

    results: list[Result]  # not plain passes
    passes: tuple[Pass, ...]
    resource: Resource | None  # of its passes
    file: str  # their location's file


def condense(results: list[Result], *, shared: dict[Pass, Pass]) -> Verdicts:
    """``results`` as ``Verdicts``: plain passes as tuples (one object per distinct pass in ``shared``),
    the rest as they are."""
    kept: list[Result] = []
    passes: list[Pass] = []
    resource, file = None, ""
    for result in results:
        location = result.location
        if (
            result.verdict is not Verdict.PASS
            or result.fix is not None
            or result.waiver
            or result.code
            or location.line
            or location.index
        ):
            kept.append(result)
            continue
        resource, file = result.resource, location.file
        key = (
            result.policy,
            result.rule,
            result.severity,
            result.message,
            location.path,
            result.category,
            result.controls,
        )
        passes.append(shared.setdefault(key, key))
    return Verdicts(kept, tuple(passes), resource, file)


def _discard(index: dict[Any, set[ObjectKey]], name: Any, key: ObjectKey) -> None:
    keys = index.get(name)
    if keys is not None:
        keys.discard(key)
        if not keys:
            del index[name]


def compact(body: dict[str, Any]) -> bytes:
    """``body`` as kept: compact JSON without the managedFields no policy reads (and that are large),
    compressed (level 1: a few microseconds, a quarter of the size)."""
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and "managedFields" in metadata:
        body = {**body, "metadata": {k: v for k, v in metadata.items() if k != "managedFields"}}
    return zlib.compress(orjson.dumps(body), 1)
