"""Drift: desired objects (rendered from Git) compared with live ones (exports or the agent's watch).

``compare`` pairs objects by group, kind, namespace and name and says of each: in sync, drifted (with a
unified diff of the normalised YAML), missing (in Git, not live) or extra (live, not in Git).
``build_results`` turns what is not in sync into results in the engine's shape, so that drift rides the
upload path as findings. Called by ``leitplanke drift`` (``cli/drift``) and, with live objects, the agent.
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from leitplanke.core.documents import Document
from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.delivery import driftignoring, driftnormalising

CATEGORY = "drift"
POLICY_PREFIX = "drift."  # + the kind in lower case: upload policy ids are Kubernetes names (no "/")
DEFAULT_NAMESPACE = "default"
# kinds without a namespace: a desired object of another kind without one is compared in the default namespace
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PriorityClass",
        "IngressClass",
        "RuntimeClass",
        "APIService",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "CSIDriver",
        "VolumeSnapshotClass",
        "ClusterIssuer",
        "ClusterPolicy",
    }
)
# live objects the cluster makes by itself: never "extra" (objects with ownerReferences are not either)
_GENERATED = frozenset({("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")})
_GENERATED_KINDS = frozenset({"Event", "Endpoints", "EndpointSlice", "Lease"})


class Status(enum.StrEnum):
    IN_SYNC = "in-sync"
    DRIFTED = "drifted"
    MISSING = "missing"
    EXTRA = "extra"


@dataclass(frozen=True, slots=True)
class DriftResult:
    """The outcome for one object; ``diff`` is a unified diff (desired → live) when it drifted."""

    status: Status
    resource: Resource
    diff: str = ""
    desired: Document | None = None
    live: Document | None = None

    def sort_key(self) -> tuple[str, str, str, str]:
        res = self.resource
        return (res.namespace, res.kind, res.name, res.api_version)


Key = tuple[str, str, str, str]  # group, kind, namespace, name


def compare(
    desired: Sequence[Document],
    live: Sequence[Document],
    *,
    rules: Sequence[driftignoring.IgnoreRule] = (),
    default_namespace: str = DEFAULT_NAMESPACE,
) -> list[DriftResult]:
    """Every desired object's status against ``live``, then the live objects Git does not hold, sorted
    by namespace, kind and name. Documents of other domains than Kubernetes are left out."""
    wanted = _by_key(desired, default_namespace=default_namespace)
    running = _by_key(live, default_namespace=None)
    found: list[DriftResult] = []
    for key, document in wanted.items():
        other = running.get(key)
        if other is None:
            found.append(DriftResult(Status.MISSING, _resource(document, key), desired=document))
            continue
        diff = render_diff(document, other, rules=rules, namespace=key[2])
        status = Status.DRIFTED if diff else Status.IN_SYNC
        found.append(DriftResult(status, _resource(other, key), diff=diff, desired=document, live=other))
    for key, document in running.items():
        if key not in wanted and not _generated(document):
            found.append(DriftResult(Status.EXTRA, _resource(document, key), live=document))
    return sorted(found, key=DriftResult.sort_key)


def _by_key(documents: Iterable[Document], *, default_namespace: str | None) -> dict[Key, Document]:
    keyed: dict[Key, Document] = {}
    for document in documents:
        if document.domain != "kubernetes" or not document.kind or not document.name:
            continue
        namespace = document.namespace
        if not namespace and default_namespace is not None and document.kind not in CLUSTER_SCOPED:
            namespace = default_namespace
        key = (driftignoring.group_of(document.api_version), document.kind, namespace, document.name)
        keyed.setdefault(key, document)  # the first of two with one identity wins, as with kubectl apply
    return keyed


def _resource(document: Document, key: Key) -> Resource:
    return Resource(document.api_version, document.kind, key[2], document.name)


def _generated(document: Document) -> bool:
    if document.metadata.get("ownerReferences"):
        return True
    return document.kind in _GENERATED_KINDS or (document.kind, document.name) in _GENERATED


def normalised_pair(
    desired: Document, live: Document, *, rules: Sequence[driftignoring.IgnoreRule] = (), namespace: str = ""
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two bodies as they are compared: normalised, then without the fields the matching rules ignore."""
    wanted, running = driftnormalising.normalise_pair(desired.body, live.body)
    matching = driftignoring.matching(
        rules, api_version=live.api_version, kind=live.kind, namespace=namespace, name=live.name
    )
    if matching:
        managed = live.metadata.get("managedFields")
        wanted, running = driftignoring.apply_rules(
            matching,
            desired=wanted,
            live=running,
            managed_fields=managed if isinstance(managed, list) else [],
        )
    return wanted, running


def render_diff(
    desired: Document, live: Document, *, rules: Sequence[driftignoring.IgnoreRule] = (), namespace: str = ""
) -> str:
    """A unified diff of the normalised YAML (``desired/…`` → ``live/…``), or ``""`` when they are equal."""
    wanted, running = normalised_pair(desired, live, rules=rules, namespace=namespace)
    if wanted == running:
        return ""
    name = f"{live.kind}/{namespace + '/' if namespace else ''}{live.name}"
    lines = difflib.unified_diff(
        _yaml(wanted).splitlines(keepends=True),
        _yaml(running).splitlines(keepends=True),
        fromfile=f"desired/{name}",
        tofile=f"live/{name}",
    )
    return "".join(lines)


def _yaml(body: Mapping[str, Any]) -> str:
    # libyaml's emitter: several times faster than PyYAML's own, and the same text
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(dict(body), Dumper=dumper, sort_keys=True, default_flow_style=False, allow_unicode=True)


def build_results(found: Iterable[DriftResult], *, severity: Severity = Severity.MEDIUM) -> list[Result]:
    """A failing result (policy ``drift.<kind>``, rule the status, category ``drift``) for each object that
    is not in sync; its message says what happened and, for drift, holds the diff."""
    results: list[Result] = []
    for item in found:
        if item.status is Status.IN_SYNC:
            continue
        origin = item.desired or item.live
        assert origin is not None  # every result but in-sync has the side it is about
        results.append(
            Result(
                policy=POLICY_PREFIX + item.resource.kind.lower(),
                rule=item.status.value,
                resource=item.resource,
                verdict=Verdict.FAIL,
                severity=severity,
                message=_message(item),
                location=Location(origin.origin.file, origin.origin.line, "", origin.origin.index),
                category=CATEGORY,
            )
        )
    return results


def _message(item: DriftResult) -> str:
    shown = item.resource.display
    if item.status is Status.MISSING:
        return f"{shown} is in Git but not live"
    if item.status is Status.EXTRA:
        return f"{shown} is live but not in Git"
    return f"{shown} differs from Git:\n{item.diff}"
