"""Kyverno ``match``/``exclude``: resource filters, user info and the admission request they see.

Pure functions over a resource body and a ``Request`` (operation, user, namespace labels);
called by ``kyverno.clusterpolicies`` and ``kyverno.validatingpolicies`` before a rule is evaluated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leitplanke.engine import contexts, matching
from leitplanke.engine.compat.kyverno import scalars

# the plural resource names ValidatingPolicy rules use, for kinds whose plural is irregular
_IRREGULAR_PLURALS = {"endpoints": "Endpoints", "ingresses": "Ingress", "networkpolicies": "NetworkPolicy"}


@dataclass(frozen=True, slots=True)
class Request:
    """What Kyverno knows about the request besides the object: offline defaults for scans."""

    operation: str = "CREATE"
    username: str = ""
    groups: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    cluster_roles: tuple[str, ...] = ()
    # namespace name -> labels, when a test supplies them; absent means unknown
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    namespaces: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)  # variables from a values file
    # from an admission request (``request_of``): the object before, the namespace, the rest of userInfo
    old_object: Mapping[str, Any] | None = None
    namespace_object: Mapping[str, Any] | None = None
    user_extra: Mapping[str, Any] = field(default_factory=dict)  # uid, extra
    dry_run: bool = False

    def user_info(self) -> dict[str, Any]:
        return {"username": self.username, "groups": list(self.groups), **self.user_extra}


_NO_SUITE = contexts.SuiteInputs()


def request_of(context: contexts.Context) -> Request:
    """The request Kyverno (and VAP) rules see for ``context``; without one, an offline CREATE."""
    if context == contexts.NO_REQUEST:
        return Request()
    user = context.user_info
    namespace = context.namespace_object
    suite = context.suite or _NO_SUITE
    labels = dict(suite.namespace_labels)
    if namespace is not None:
        meta = namespace.get("metadata") or {}
        labels[str(meta.get("name", ""))] = dict(meta.get("labels") or {})
    return Request(
        operation=context.operation or "CREATE",
        username=str(user.get("username", "")),
        groups=tuple(str(group) for group in user.get("groups") or ()),
        roles=suite.roles,
        cluster_roles=suite.cluster_roles,
        namespace_labels=labels,
        namespaces=suite.namespaces,
        values=suite.variables,
        old_object=context.old_object,
        namespace_object=namespace,
        user_extra={key: user[key] for key in ("uid", "extra") if key in user},
        dry_run=context.dry_run,
    )


def split_kind(text: str) -> tuple[str, str, str, str]:
    """``group/version/Kind/sub`` forms → (group, version, kind, subresource); ``*`` means any."""
    sub = ""
    parts = text.split("/")
    if len(parts) >= 2 and parts[-1] and parts[-1][0].islower() and parts[-2][:1].isupper():
        sub = parts.pop()
    if len(parts) == 1:
        return "*", "*", parts[0], sub
    if len(parts) == 2:
        return "*", parts[0], parts[1], sub
    return parts[0], parts[1], parts[2], sub


def group_version(api_version: str) -> tuple[str, str]:
    if "/" in api_version:
        group, _, version = api_version.partition("/")
        return group, version
    return "", api_version


def kind_matches(pattern: str, body: Mapping[str, Any]) -> bool:
    group, version, kind, sub = split_kind(pattern)
    if sub:
        return False  # subresource requests never occur offline
    actual_group, actual_version = group_version(str(body.get("apiVersion", "")))
    return (
        scalars.wildcard_match(kind, str(body.get("kind", "")))
        and (group == "*" or scalars.wildcard_match(group, actual_group))
        and (version == "*" or scalars.wildcard_match(version, actual_version))
    )


def resource_matches(plural: str, kind: str) -> bool:
    """Does the plural resource name (``pods``, ``*``) designate ``kind``?"""
    if plural == "*":
        return True
    base = plural.partition("/")[0]
    if "/" in plural:
        return False
    lowered = kind.lower()
    if base in _IRREGULAR_PLURALS:
        return _IRREGULAR_PLURALS[base] == kind
    if lowered.endswith("y") and base == lowered[:-1] + "ies":
        return True
    return base in (lowered + "s", lowered + "es", lowered)


def _namespace_of(body: Mapping[str, Any]) -> str:
    meta = body.get("metadata") or {}
    if body.get("kind") == "Namespace":
        return str(meta.get("name", ""))
    return str(meta.get("namespace", "") or "")


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    wanted = selector.get("matchLabels") or {}
    for key, value in wanted.items():
        hits = [k for k in labels if scalars.wildcard_match(str(key), str(k))]
        if not hits or not any(scalars.wildcard_match(str(value), str(labels[k])) for k in hits):
            return False
    return matching.selects({"matchExpressions": selector.get("matchExpressions") or []}, labels)


def _names(patterns: Sequence[Any], value: str) -> bool:
    return any(scalars.wildcard_match(str(p), value) for p in patterns)


def resources_match(description: Mapping[str, Any], body: Mapping[str, Any], request: Request) -> bool:
    meta = body.get("metadata") or {}
    kinds = description.get("kinds") or []
    if kinds and not any(kind_matches(str(k), body) for k in kinds):
        return False
    name = str(meta.get("name", ""))
    if description.get("name") and not scalars.wildcard_match(str(description["name"]), name):
        return False
    if description.get("names") and not _names(description["names"], name):
        return False
    namespace = _namespace_of(body)
    if description.get("namespaces") and not _names(description["namespaces"], namespace):
        return False
    if description.get("operations") and request.operation not in description["operations"]:
        return False
    annotations = description.get("annotations")
    if annotations:
        actual = meta.get("annotations") or {}
        for key, value in annotations.items():
            hits = [k for k in actual if scalars.wildcard_match(str(key), str(k))]
            if not any(scalars.wildcard_match(str(value), str(actual[k])) for k in hits):
                return False
    selector = description.get("selector")
    if selector is not None and not _selects(selector, meta.get("labels") or {}):
        return False
    namespace_selector = description.get("namespaceSelector")
    if namespace_selector is not None:
        labels = request.namespace_labels.get(namespace)
        if labels is None or not _selects(namespace_selector, labels):
            return False
    return True


def _user_matches(filter_: Mapping[str, Any], request: Request) -> bool:
    roles, cluster_roles = filter_.get("roles"), filter_.get("clusterRoles")
    if roles and not set(roles) & set(request.roles):
        return False
    if cluster_roles and not set(cluster_roles) & set(request.cluster_roles):
        return False
    subjects = filter_.get("subjects")
    return not subjects or any(_subject_matches(s, request) for s in subjects)


def _subject_matches(subject: Mapping[str, Any], request: Request) -> bool:
    kind, name = subject.get("kind"), str(subject.get("name", ""))
    if kind == "Group":
        return name in request.groups
    if kind == "ServiceAccount":
        return request.username == f"system:serviceaccount:{subject.get('namespace', '')}:{name}"
    return scalars.wildcard_match(name, request.username)


def filter_matches(filter_: Mapping[str, Any], body: Mapping[str, Any], request: Request) -> bool:
    """One match/exclude entry: its resources and its user info must all hold."""
    resources = filter_.get("resources")
    if resources and not resources_match(resources, body, request):
        return False
    return _user_matches(filter_, request)


def block_matches(block: Mapping[str, Any] | None, body: Mapping[str, Any], request: Request) -> bool:
    """A whole ``match`` or ``exclude`` block: ``any``, ``all`` or the legacy single entry."""
    if not block:
        return False
    if block.get("any"):
        return any(filter_matches(f, body, request) for f in block["any"])
    if block.get("all"):
        return all(filter_matches(f, body, request) for f in block["all"])
    return filter_matches(block, body, request)


def block_kinds(block: Mapping[str, Any] | None) -> list[str]:
    if not block:
        return []
    entries = list(block.get("any") or []) + list(block.get("all") or []) + [block]
    found: list[str] = []
    for entry in entries:
        if isinstance(entry, Mapping):
            found.extend(str(k) for k in ((entry.get("resources") or {}).get("kinds") or []))
    return found
