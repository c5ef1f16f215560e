"""Ignore rules for drift, as Argo CD's ``ignoreDifferences``: per group and kind (and optionally name and
namespace), JSON pointers, jq path expressions and field managers whose fields are not compared.

``parse_rules`` reads them from YAML (a list, or a mapping with ``ignoreDifferences``); ``drift.compare``
calls ``apply_rules`` on each normalised pair. Fields are removed from both sides, as Argo CD does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from leitplanke.core.problems import Problem
from leitplanke.delivery import jqpaths

_RULE_KEYS = frozenset(
    {"group", "kind", "name", "namespace", "jsonPointers", "jqPathExpressions", "managedFieldsManagers"}
)


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    """Fields not compared in objects of ``group``/``kind`` (``*``: any), optionally of one name/namespace."""

    kind: str
    group: str = ""
    name: str = ""
    namespace: str = ""
    json_pointers: tuple[str, ...] = ()
    jq_path_expressions: tuple[str, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    def matches(self, *, group: str, kind: str, namespace: str, name: str) -> bool:
        return (
            self.kind in ("*", kind)
            and self.group in ("*", group)
            and (not self.name or self.name == name)
            and (not self.namespace or self.namespace == namespace)
        )


def group_of(api_version: str) -> str:
    """``apps/v1`` → ``apps``; ``v1`` → ``""`` (the core group)."""
    return api_version.rsplit("/", 1)[0] if "/" in api_version else ""


def parse_rules(text: str, *, file: str) -> tuple[list[IgnoreRule], list[Problem]]:
    """The rules of an ignore file, and a problem (``drift-ignore``, with the field) for each bad entry."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [Problem(file, (mark.line + 1) if mark else 0, "drift-ignore", f"not YAML: {exc}")]
    if isinstance(data, Mapping):
        spec = data.get("spec")
        in_spec = spec.get("ignoreDifferences") if isinstance(spec, Mapping) else None
        data = data.get("ignoreDifferences", in_spec)
    if data is None:
        return [], []
    if not isinstance(data, list):
        return [], [Problem(file, 0, "drift-ignore", "expected a list of rules or ignoreDifferences: [...]")]
    rules: list[IgnoreRule] = []
    problems: list[Problem] = []
    for number, entry in enumerate(data):
        rule, found = _rule(entry, field=f"ignoreDifferences[{number}]", file=file)
        problems += found
        if rule is not None:
            rules.append(rule)
    return rules, problems


def _rule(entry: Any, *, field: str, file: str) -> tuple[IgnoreRule | None, list[Problem]]:
    def problem(where: str, message: str) -> Problem:
        return Problem(file, 0, "drift-ignore", message, field=f"{field}{where}")

    if not isinstance(entry, Mapping):
        return None, [problem("", "expected a mapping")]
    problems = [problem(f".{key}", "unknown field") for key in entry if key not in _RULE_KEYS]
    texts: dict[str, str] = {}
    for key in ("group", "kind", "name", "namespace"):
        value = entry.get(key, "")
        if not isinstance(value, str):
            problems.append(problem(f".{key}", "expected a string"))
        texts[key] = str(value)
    if not texts["kind"]:
        problems.append(problem(".kind", "is required (a kind, or * for every kind)"))
    lists: dict[str, tuple[str, ...]] = {}
    for key in ("jsonPointers", "jqPathExpressions", "managedFieldsManagers"):
        value = entry.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            problems.append(problem(f".{key}", "expected a list of non-empty strings"))
            value = []
        lists[key] = tuple(value)
    for number, pointer in enumerate(lists["jsonPointers"]):
        if not pointer.startswith("/"):
            problems.append(problem(f".jsonPointers[{number}]", "a JSON pointer starts with /"))
    for number, expression in enumerate(lists["jqPathExpressions"]):
        error = jqpaths.check_expression(expression)
        if error:
            problems.append(problem(f".jqPathExpressions[{number}]", error))
    if problems:
        return None, problems
    return IgnoreRule(
        kind=texts["kind"],
        group=texts["group"],
        name=texts["name"],
        namespace=texts["namespace"],
        json_pointers=lists["jsonPointers"],
        jq_path_expressions=lists["jqPathExpressions"],
        managed_fields_managers=lists["managedFieldsManagers"],
    ), []


def matching(
    rules: Sequence[IgnoreRule], *, api_version: str, kind: str, namespace: str, name: str
) -> list[IgnoreRule]:
    group = group_of(api_version)
    return [rule for rule in rules if rule.matches(group=group, kind=kind, namespace=namespace, name=name)]


def apply_rules(
    rules: Sequence[IgnoreRule],
    *,
    desired: dict[str, Any],
    live: dict[str, Any],
    managed_fields: Sequence[Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``desired`` and ``live`` without the ignored fields; ``managed_fields`` are the live object's own
    (read before normalising removed them)."""
    for rule in rules:
        for pointer in rule.json_pointers:
            remove_pointer(desired, pointer)
            remove_pointer(live, pointer)
        for expression in rule.jq_path_expressions:
            desired, live = jqpaths.delete_paths(desired, expression), jqpaths.delete_paths(live, expression)
        for entry in managed_fields:
            if isinstance(entry, Mapping) and entry.get("manager") in rule.managed_fields_managers:
                owned = entry.get("fieldsV1")
                if isinstance(owned, Mapping):
                    remove_owned(desired, owned)
                    remove_owned(live, owned)
    return desired, live


def remove_pointer(document: Any, pointer: str) -> None:
    """Remove the field at the JSON pointer (RFC 6901, ``~1`` for ``/``, ``~0`` for ``~``), if it is there."""
    steps = [step.replace("~1", "/").replace("~0", "~") for step in pointer.split("/")[1:]]
    if not steps:
        return
    node = document
    for step in steps[:-1]:
        node = _child(node, step)
        if node is None:
            return
    last = steps[-1]
    if isinstance(node, dict):
        node.pop(last, None)
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        del node[int(last)]


def _child(node: Any, step: str) -> Any:
    if isinstance(node, dict):
        return node.get(step)
    if isinstance(node, list) and step.isdigit() and int(step) < len(node):
        return node[int(step)]
    return None


def remove_owned(document: Any, fields: Mapping[str, Any]) -> None:
    """Remove from ``document`` the leaves of a ``fieldsV1`` set: ``f:name`` a field, ``k:{...}`` the list
    item whose fields are those, ``v:value`` the list item equal to value, ``i:N`` the N-th item.

    A field whose set is empty (``{}``) is owned whole and removed; ``.`` (the node itself) is skipped so
    that owning a list item does not remove the fields other managers own inside it.
    """
    for key, below in fields.items():
        if key == "." or not isinstance(key, str):
            continue
        leaf = not isinstance(below, Mapping) or not [k for k in below if k != "."]
        if key.startswith("f:") and isinstance(document, dict):
            name = key[2:]
            if name in document:
                if leaf:
                    del document[name]
                else:
                    remove_owned(document[name], below)
        elif isinstance(document, list):
            for index in reversed(_owned_items(document, key)):
                if leaf:
                    del document[index]
                else:
                    remove_owned(document[index], below)


def _owned_items(items: list[Any], key: str) -> list[int]:
    try:
        if key.startswith("k:"):
            wanted = json.loads(key[2:])
            return [
                n
                for n, item in enumerate(items)
                if isinstance(item, dict) and all(_same(item.get(k), v) for k, v in wanted.items())
            ]
        if key.startswith("v:"):
            value = json.loads(key[2:])
            return [n for n, item in enumerate(items) if item == value]
        if key.startswith("i:"):
            index = int(key[2:])
            return [index] if 0 <= index < len(items) else []
    except (ValueError, AttributeError):
        return []
    return []


def _same(actual: Any, wanted: Any) -> bool:
    # a key field the server defaulted (protocol TCP) may have been normalised away on this side
    return actual == wanted or (actual is None and wanted == "TCP")
