"""Kyverno's field pointers (``/spec/containers/0/image/``) as document paths
(``spec.containers[0].image``), so that a Kyverno result points at its field's line.

``compat.kyverno.validating`` turns the pointer of a failing pattern, and the place of a foreach
element, into the path its ``RuleOutcome`` carries; ``Origin.line_of`` resolves it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from leitplanke.core import documents


def document_path(pointer: str, value: Any, *, base: str = "") -> str:
    """The path of ``pointer`` inside ``value`` (whose own path is ``base``).

    A segment is a list index where the value at that point is a list; past a field the
    resource lacks, segments stay keys: ``Origin.line_of`` then falls back to the nearest
    ancestor the document has.
    """
    path = base
    for segment in pointer.strip("/").split("/") if pointer.strip("/") else ():
        if isinstance(value, list) and segment.isdigit():
            index = int(segment)
            path = documents.join_path(path, index)
            value = value[index] if index < len(value) else None
        else:
            path = documents.join_path(path, segment)
            value = value.get(segment) if isinstance(value, Mapping) else None
    return path


def locate(target: Any, value: Any, *, path: str = "") -> str | None:
    """The path of the object ``target`` (by identity) inside ``value``; None if it is not there.

    Called only for a failing foreach element: a walk of the resource costs nothing next to
    reporting the failure.
    """
    if value is target:
        return path
    if isinstance(value, Mapping):
        steps: Any = ((str(key), child) for key, child in value.items())
    elif isinstance(value, list):
        steps = enumerate(value)
    else:
        return None
    for step, child in steps:
        if isinstance(child, Mapping | list):
            found = locate(target, child, path=documents.join_path(path, step))
            if found is not None:
                return found
    return None


class ElementPlace:
    """The document path of one foreach element: found in the resource when a check of the
    element fails (by identity; a scalar by its index in a list the resource holds)."""

    __slots__ = ("body", "element", "elements", "index")

    def __init__(self, element: Any, index: int, elements: list[Any], body: Any) -> None:
        self.element, self.index, self.elements, self.body = element, index, elements, body

    def __call__(self) -> str | None:
        if isinstance(self.element, Mapping | list):
            return locate(self.element, self.body)
        found = locate(self.elements, self.body)
        return None if found is None else documents.join_path(found, self.index)
