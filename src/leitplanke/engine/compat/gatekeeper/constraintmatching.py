"""Matching a Gatekeeper constraint's ``match`` against a review: kinds, scope, namespaces,
excludedNamespaces, name, labelSelector and namespaceSelector.

Called by ``constrainttemplates`` per document and by ``gatortests`` per case.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from typing import Any

from leitplanke.engine import matching
from leitplanke.engine.compat.gatekeeper import reviews


def _globs(patterns: Sequence[Any], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, str(p)) for p in patterns)


def matches(match: Mapping[str, Any], review: Mapping[str, Any], *, inventory: Mapping[str, Any]) -> bool:
    """Gatekeeper's constraint ``match``: kinds, scope, namespaces, excludedNamespaces, name,
    labelSelector and namespaceSelector (which needs the Namespace among the inventory)."""
    kind = review.get("kind") or {}
    kinds = [k for k in match.get("kinds") or [] if isinstance(k, Mapping)]
    if kinds and not any(
        _listed(k.get("apiGroups"), str(kind.get("group", "")))
        and _listed(k.get("kinds"), str(kind.get("kind", "")))
        for k in kinds
    ):
        return False
    obj = review.get("object") or review.get("oldObject") or {}
    meta = obj.get("metadata") or {}
    is_namespace = kind.get("kind") == "Namespace" and not kind.get("group")
    namespace = (
        str(meta.get("name", ""))
        if is_namespace
        else str(review.get("namespace") or meta.get("namespace") or "")
    )
    scoped = bool(namespace) and not is_namespace
    scope = str(match.get("scope") or "*")
    if (scope == "Namespaced" and not scoped) or (scope == "Cluster" and scoped):
        return False
    if namespace or is_namespace:  # cluster-scoped objects are not filtered by namespaces
        if match.get("namespaces") and not _globs(match["namespaces"], namespace):
            return False
        if match.get("excludedNamespaces") and _globs(match["excludedNamespaces"], namespace):
            return False
    if match.get("name") and not _globs([match["name"]], str(review.get("name") or meta.get("name", ""))):
        return False
    if match.get("labelSelector") and not matching.selects(match["labelSelector"], meta.get("labels") or {}):
        return False
    selector = match.get("namespaceSelector")
    if selector and (namespace or is_namespace):
        found = obj if is_namespace else reviews.namespace_object(namespace, inventory)
        labels = ((found or {}).get("metadata") or {}).get("labels")
        if found is None or not matching.selects(selector, labels or {}):
            return False
    return True


def _listed(values: Any, actual: str) -> bool:
    listed = [str(v) for v in values or []]
    return not listed or "*" in listed or actual in listed
