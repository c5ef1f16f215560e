"""Documents: one configuration object each, with where it came from.

Sources build them; the engine evaluates them; reports point back to
``origin`` (file, index in a multi-document file, line of each field path).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

POD_KINDS: Mapping[str, tuple[str, ...]] = {
    # kind -> path of its pod spec inside the body
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
# the distinct places of a pod spec, numbered from 1 (see ``evaluating.Subject.pod_shape``)
POD_PATHS: tuple[tuple[str, ...], ...] = tuple(dict.fromkeys(POD_KINDS.values()))


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a document was read: ``file``, its ``index`` in that file and its first ``line``.

    ``lines`` maps field paths (``spec.containers[0].image``) to 1-based lines;
    it holds the paths a report needs, not necessarily every path.
    """

    file: str
    index: int = 0
    line: int = 0
    lines: Mapping[str, int] = field(default_factory=dict)

    def frozen(self, paths: Iterable[str]) -> Origin:
        """A copy whose ``lines`` is a plain dict holding ``paths``: picklable, and ``line_of``
        answers as before for them (lazy line lookups stay in the process that parsed)."""
        return Origin(self.file, self.index, self.line, {path: self.line_of(path) for path in paths})

    def line_of(self, path: str) -> int:
        """The line of ``path``, or of its nearest known ancestor, or of the document."""
        probe = path
        while probe:
            found = self.lines.get(probe)
            if found:
                return found
            probe = parent_path(probe)
        return self.line


def parent_path(path: str) -> str:
    """``a.b[2].c`` → ``a.b[2]`` → ``a.b`` → ``a`` → ``""``."""
    if path.endswith("]"):
        return path[: path.rindex("[")]
    dot = path.rfind(".")
    return path[:dot] if dot >= 0 else ""


def join_path(base: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{base}[{key}]"
    if key and _quoted(key):
        # keys such as "app.kubernetes.io/name" are quoted so the path stays unambiguous
        return f'{base}["{key}"]'
    return f"{base}.{key}" if base else key


@functools.lru_cache(maxsize=8192)
def _quoted(key: str) -> bool:
    return not key.replace("-", "_").replace("/", "_").isidentifier()


@dataclass(frozen=True, slots=True)
class Document:
    """One configuration object. ``body`` is a plain dict, never mutated after loading."""

    body: Mapping[str, Any]
    origin: Origin
    domain: str = "kubernetes"

    @property
    def api_version(self) -> str:
        value = self.body.get("apiVersion")
        return value if isinstance(value, str) else ""

    @property
    def kind(self) -> str:
        value = self.body.get("kind")
        return value if isinstance(value, str) else ""

    @property
    def metadata(self) -> Mapping[str, Any]:
        value = self.body.get("metadata")
        return value if isinstance(value, Mapping) else {}

    @property
    def name(self) -> str:
        value = self.metadata.get("name")
        return str(value) if value is not None else ""

    @property
    def namespace(self) -> str:
        value = self.metadata.get("namespace")
        return str(value) if value is not None else ""

    @property
    def labels(self) -> Mapping[str, str]:
        value = self.metadata.get("labels")
        return value if isinstance(value, Mapping) else {}

    @property
    def identity(self) -> str:
        """``apiVersion/kind/namespace/name``: stable across scans, used for fingerprints."""
        return f"{self.api_version}/{self.kind}/{self.namespace}/{self.name}"

    @property
    def display(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


def namespace_objects(items: Iterable[object]) -> dict[str, Mapping[str, Any]]:
    """The Namespace objects among ``items`` (Kubernetes documents, ``v1`` ``Namespace``) by
    name; the first of two with one name wins. Other items are ignored."""
    found: dict[str, Mapping[str, Any]] = {}
    for item in items:
        if (
            isinstance(item, Document)
            and item.domain == "kubernetes"
            and item.kind == "Namespace"
            and item.api_version == "v1"
            and item.name
        ):
            found.setdefault(item.name, item.body)
    return found


def pod_spec_path(kind: str) -> tuple[str, ...] | None:
    return POD_KINDS.get(kind)


def pod_spec_of(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a pod-bearing object, or ``None``."""
    path = POD_KINDS.get(str(body.get("kind", "")))
    if path is None:
        return None
    node: Any = body
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node if isinstance(node, Mapping) else None


def pod_spec_prefix(kind: str) -> str:
    path = POD_KINDS.get(kind)
    return ".".join(path) if path else ""


@dataclass(frozen=True, slots=True)
class SkippedInput:
    """An input the scan did not evaluate and why (``not-kubernetes``, ``empty``)."""

    file: str
    index: int
    line: int
    reason: str


def parse_path(path: str) -> list[str | int]:
    """Split a field path (``a.b[0]["x.y/z"].c``) into keys and indexes.

    The same paths come back for every document (a rule's path, the pod spec's prefix): they
    are split once. A malformed path raises ValueError or IndexError, every time.
    """
    return list(_split_path(path))


@functools.lru_cache(maxsize=8192)
def _split_path(path: str) -> tuple[str | int, ...]:
    parts: list[str | int] = []
    i, n = 0, len(path)
    token = ""
    while i < n:
        ch = path[i]
        if ch == ".":
            if token:
                parts.append(token)
            token = ""
            i += 1
        elif ch == "[":
            if token:
                parts.append(token)
            token = ""
            end = path.index("]", i + 1) if not path.startswith('["', i) else path.index('"]', i + 2) + 1
            inner = path[i + 1 : end]
            parts.append(inner[1:-1] if inner.startswith('"') else int(inner))
            i = end + 1
        else:
            token += ch
            i += 1
    if token:
        parts.append(token)
    return tuple(parts)
