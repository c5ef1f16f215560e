"""A document as CEL sees it (``Subject``) and the document paths of what rules point at.

``evaluating`` builds one subject per matched document; ``judging`` and ``scanning`` turn a
rule's ``path`` and a forEach item into the path a result reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leitplanke.core import documents
from leitplanke.core.documents import Document
from leitplanke.core.results import Resource


@dataclass(frozen=True, slots=True)
class Subject:
    """A document as CEL sees it, with the paths reports need."""

    doc: Document
    resource: Resource
    pod_spec: Mapping[str, Any] | None
    pod_meta: Mapping[str, Any] | None
    pod_prefix: str
    # where the pod spec is (1 + its index in ``documents.POD_PATHS``), if CEL can select it
    # and its metadata from ``object`` as ``build_subject`` finds them (else 0): a program then
    # need not convert the pod spec a second time (see ``joining.pod_selections``)
    pod_shape: int = 0

    def bindings(self) -> dict[str, Any]:
        return {"object": self.doc.body, "podSpec": self.pod_spec, "podMeta": self.pod_meta}


# per pod-bearing kind: the path of its pod's metadata, and its ``Subject.pod_shape``
_POD_METAS: dict[str, tuple[str | int, ...]] = {
    kind: (*path[:-1], "metadata") for kind, path in documents.POD_KINDS.items()
}
_POD_SHAPES = {kind: documents.POD_PATHS.index(path) + 1 for kind, path in documents.POD_KINDS.items()}


def build_subject(doc: Document) -> Subject:
    body = doc.body
    kind = doc.kind
    pod_spec = documents.pod_spec_of(body)
    pod_meta: Mapping[str, Any] | None = None
    prefix = ""
    shape = 0
    if pod_spec is not None:
        prefix = documents.pod_spec_prefix(kind)
        meta_path = _POD_METAS.get(kind) or (*documents.parse_path(prefix)[:-1], "metadata")
        node: Any = body
        for part in meta_path:
            node = node.get(part) if isinstance(node, Mapping) else None
        pod_meta = node if isinstance(node, Mapping) else {}
        if node is None or isinstance(node, Mapping):  # CEL's `.?metadata.orValue({})` agrees
            shape = _POD_SHAPES[kind]
    resource = Resource(
        api_version=doc.api_version, kind=kind, namespace=doc.namespace, name=doc.name, domain=doc.domain
    )
    return Subject(
        doc=doc, resource=resource, pod_spec=pod_spec, pod_meta=pod_meta, pod_prefix=prefix, pod_shape=shape
    )


# every ``Subject.pod_prefix``: "" (no pod spec) and where each pod-bearing kind has one
POD_PREFIXES = ("", *dict.fromkeys(documents.pod_spec_prefix(kind) for kind in documents.POD_KINDS))


def rule_paths(path: str) -> dict[str, str]:
    """The document path of a rule's ``path`` with no forEach item, by ``Subject.pod_prefix``
    (``outcomes.Passes`` reads it: resolved once when compiled, not for every document)."""
    return {prefix: _resolved(path, prefix, has_pod=bool(prefix), item_path="") for prefix in POD_PREFIXES}


def resolve_path(path: str, subject: Subject, *, item_path: str) -> str:
    """Turn a rule's ``path`` (``item.x``, ``podSpec.x``, ``podMeta.x``, ``x``) into a document path."""
    return _resolved(path, subject.pod_prefix, has_pod=subject.pod_spec is not None, item_path=item_path)


def _resolved(path: str, prefix: str, *, has_pod: bool, item_path: str) -> str:
    if not path:
        return item_path
    head, _, rest = path.partition(".")
    if head == "item":
        if not item_path:
            return ""  # no item (a forEach over nothing): the document, not a path under no item
        base = item_path
    elif head == "podSpec":
        base = prefix
    elif head == "podMeta" and has_pod:
        base = prefix.removesuffix("spec") + "metadata"
    else:
        return path
    if not rest:
        return base
    return f"{base}.{rest}" if base else rest


def locate(body: Any, value: Any, base: str = "") -> str:
    """Path of the first list element in ``body`` equal to ``value`` (depth first), or ``""``."""
    if isinstance(body, Mapping):
        for key, child in body.items():
            if isinstance(child, Mapping | list):
                found = locate(child, value, documents.join_path(base, str(key)))
                if found:
                    return found
    elif isinstance(body, list):
        for index, child in enumerate(body):
            if child == value:
                return f"{base}[{index}]"
        for index, child in enumerate(body):
            if isinstance(child, Mapping | list):
                found = locate(child, value, f"{base}[{index}]")
                if found:
                    return found
    return ""
