"""Kubernetes-shaped bodies for configuration files, and the lines of their fields.

Every loader in ``sources.configs`` builds its documents with ``build_body`` and maps the
paths of the body back to the lines of the file with ``ShiftedLines`` or a plain dict.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

API_VERSION = "config.leitplanke.dev/v1"
FILE_ANNOTATION = "config.leitplanke.dev/file"


def build_body(
    kind: str, *, name: str, file: str, spec: Any, labels: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """``apiVersion``, ``kind``, ``metadata`` (name, the file as an annotation, labels) and ``spec``."""
    metadata: dict[str, Any] = {"name": name, "annotations": {FILE_ANNOTATION: file}}
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": API_VERSION, "kind": kind, "metadata": metadata, "spec": spec}


def file_name(path: str) -> str:
    return os.path.basename(path) or path


class ShiftedLines(Mapping[str, int]):
    """Lines of a body whose ``spec`` is the value at ``source`` in a parsed file.

    ``spec.a.b`` is looked up as ``<source>.a.b`` in ``lines`` (a ``locations.NodeLines`` of
    the whole file); paths outside ``spec`` have no line of their own, so reports fall back
    to the document's line.
    """

    __slots__ = ("_lines", "_source")

    def __init__(self, lines: Mapping[str, int], source: str) -> None:
        self._lines = lines
        self._source = source

    def __getitem__(self, path: str) -> int:
        if path == "spec":
            inner = self._source
        elif path.startswith(("spec.", "spec[")):
            rest = path[len("spec") :]
            inner = f"{self._source}{rest}" if self._source else rest.lstrip(".")
        else:
            raise KeyError(path)
        if not inner:
            raise KeyError(path)
        return self._lines[inner]

    def __iter__(self) -> Iterator[str]:
        prefix = self._source
        for path in self._lines:
            if not prefix:
                yield f"spec.{path}" if not path.startswith("[") else f"spec{path}"
            elif path == prefix:
                yield "spec"
            elif path.startswith((f"{prefix}.", f"{prefix}[")):
                yield "spec" + path[len(prefix) :]

    def __len__(self) -> int:
        return sum(1 for _ in self)
