"""What a Gatekeeper policy reads besides its constraint: ``input.review`` and ``data.inventory``.

``input.review`` is built from an object and the request around it (``contexts.Context``);
called by ``compat.gatekeeper.constrainttemplates`` per document and by ``compat.gatekeeper.gatortests``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from leitplanke.engine import contexts
from leitplanke.engine.compat.kyverno.resourcefilters import group_version


def review_of(body: Mapping[str, Any], context: contexts.Context = contexts.NO_REQUEST) -> dict[str, Any]:
    """``input.review`` for an object in ``context`` (none: an offline CREATE) or the ``request``
    of an AdmissionReview."""
    if body.get("kind") == "AdmissionReview" and isinstance(body.get("request"), Mapping):
        return dict(body["request"])
    meta = body.get("metadata") or {}
    group, version = group_version(str(body.get("apiVersion", "")))
    return {
        "kind": {"group": group, "version": version, "kind": body.get("kind", "")},
        "name": meta.get("name", ""),
        "namespace": meta.get("namespace", ""),
        "operation": context.operation or "CREATE",
        "userInfo": dict(context.user_info),
        "object": body,
        "oldObject": context.old_object,
        "dryRun": context.dry_run,
        **({"subResource": context.sub_resource} if context.sub_resource else {}),
        **({"uid": context.uid} if context.uid else {}),
    }


def build_inventory(bodies: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``data.inventory``: ``namespace[ns][apiVersion][kind][name]``, ``cluster[apiVersion][kind][name]``."""
    inventory: dict[str, Any] = {"cluster": {}, "namespace": {}}
    for body in bodies:
        meta = body.get("metadata") or {}
        api_version, kind, name = (
            str(body.get("apiVersion", "")),
            str(body.get("kind", "")),
            str(meta.get("name", "")),
        )
        namespace = meta.get("namespace")
        root = inventory["namespace"].setdefault(str(namespace), {}) if namespace else inventory["cluster"]
        root.setdefault(api_version, {}).setdefault(kind, {})[name] = body
    return inventory


def namespace_object(namespace: str, inventory: Mapping[str, Any]) -> Any:
    if not namespace:
        return None
    return ((inventory.get("cluster") or {}).get("v1") or {}).get("Namespace", {}).get(namespace)


def merged_inventory(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for key in first.keys() | second.keys():
        a, b = first.get(key), second.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            merged[key] = merged_inventory(a, b)
        else:
            merged[key] = b if b is not None else a
    return merged
