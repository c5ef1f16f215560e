"""The test API server's state: the objects, their event log, and what a test injects (``kubeservers``).

Types are served as they are seeded (``serve``): the plural resource name from the kind, cluster scope
from a list of the built-in cluster-scoped kinds, a group's versions ordered as Kubernetes orders them.
``seed`` fills it from plain objects (``real_documents``: the manifests of ``../shared/bench/real``).
"""

from __future__ import annotations

import copy
import gzip
import json
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TOKEN = "kube-test-token"
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "PersistentVolume",
        "StorageClass",
        "CSIDriver",
        "PriorityClass",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "APIService",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "IngressClass",
        "RuntimeClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ClusterPolicyReport",
        "ClusterReport",
        "ClusterPolicy",
        "ClusterIssuer",
        "PodSecurityPolicy",
        "VolumeAttachment",
        "CSINode",
    }
)
BUILT_IN = (  # apiVersion, kind: the types every cluster serves, whatever it was seeded with
    ("v1", "Namespace"),
    ("v1", "Pod"),
    ("v1", "Service"),
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "ServiceAccount"),
    ("v1", "Event"),
    ("v1", "Node"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "ReplicaSet"),
    ("policy/v1", "PodDisruptionBudget"),
    ("coordination.k8s.io/v1", "Lease"),
    ("events.k8s.io/v1", "Event"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("wgpolicyk8s.io/v1alpha2", "PolicyReport"),
    ("wgpolicyk8s.io/v1alpha2", "ClusterPolicyReport"),
    ("openreports.io/v1alpha1", "Report"),
    ("openreports.io/v1alpha1", "ClusterReport"),
)
_STABILITY = {"alpha": 0, "beta": 1, "": 2}


def plural(kind: str) -> str:
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


def version_priority(version: str) -> tuple[int, int, int]:
    """Kubernetes' order of versions: GA over beta over alpha, then the higher numbers."""
    found = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", version)
    if found is None:
        return (-1, 0, 0)
    major, stability, minor = found.groups()
    return (_STABILITY[stability or ""], int(major), int(minor or 0))


@dataclass(frozen=True)
class Type:
    group: str
    resource: str
    kind: str
    namespaced: bool


@dataclass
class Fault:
    method: str
    path: str  # a prefix of the path
    status: int
    times: int
    retry_after: int = 0


@dataclass
class State:
    """The objects, the event log and what the tests inject; one lock over all of it."""

    types: dict[tuple[str, str], Type] = field(default_factory=dict)  # (group, resource)
    versions: dict[str, list[str]] = field(default_factory=dict)  # group → versions, preferred first
    objects: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    # per (group, resource): (resourceVersion, event, object), oldest first
    events: dict[tuple[str, str], list[tuple[int, str, dict[str, Any]]]] = field(default_factory=dict)
    revision: int = 1000
    compacted: int = 0  # events at or below this resourceVersion are forgotten: 410
    generation: int = 0  # counts compactions: a watch of an earlier one ends
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    managers: dict[tuple[str, str, str, str], str] = field(default_factory=dict)
    max_object_bytes: int = 1_572_864  # etcd's default request limit, 1.5 MiB
    bookmark_seconds: float = 0.5
    changed: threading.Condition = field(default_factory=threading.Condition)

    def serve(self, api_version: str, kind: str) -> Type:
        group, _, version = api_version.rpartition("/")
        kind_type = Type(group, plural(kind), kind, kind not in CLUSTER_SCOPED)
        self.types.setdefault((group, kind_type.resource), kind_type)
        versions = self.versions.setdefault(group, [])
        if version not in versions:
            versions.append(version)
            versions.sort(key=version_priority, reverse=True)
        return self.types[(group, kind_type.resource)]

    def put(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """Create or replace an object (as a controller or kubectl would); a watch sees ADDED or MODIFIED."""
        with self.changed:
            obj = copy.deepcopy(dict(body))
            kind_type = self.serve(obj["apiVersion"], obj["kind"])
            metadata = obj.setdefault("metadata", {})
            if kind_type.namespaced:
                metadata.setdefault("namespace", "default")
            else:
                metadata.pop("namespace", None)
            key = (kind_type.group, kind_type.resource, metadata.get("namespace", ""), metadata["name"])
            before = self.objects.get(key)
            metadata["uid"] = before["metadata"]["uid"] if before else str(uuid.uuid4())
            metadata.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
            self._record(key, "MODIFIED" if before else "ADDED", obj)
            return obj

    def remove(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        with self.changed:
            group = api_version.rpartition("/")[0]
            key = (group, plural(kind), namespace, name)
            gone = self.objects.pop(key)
            self.managers.pop(key, None)
            self.revision += 1
            obj = {**gone, "metadata": {**gone["metadata"], "resourceVersion": str(self.revision)}}
            self.events.setdefault(key[:2], []).append((self.revision, "DELETED", obj))
            self.changed.notify_all()

    def compact(self) -> None:
        """Forget every event so far and end the open watches (as an API server restarting does): a watch
        or a continued list from an older resourceVersion gets 410."""
        with self.changed:
            self.compacted = self.revision
            self.events.clear()
            self.generation += 1
            self.changed.notify_all()

    def fail(self, method: str, path: str, status: int, *, times: int = 1, retry_after: int = 0) -> None:
        with self.changed:
            self.faults.append(Fault(method, path, status, times, retry_after))

    def _record(self, key: tuple[str, str, str, str], event: str, obj: dict[str, Any]) -> None:
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.objects[key] = obj
        self.events.setdefault(key[:2], []).append((self.revision, event, obj))
        self.changed.notify_all()

    def of(self, kind: str, namespace: str = "") -> list[dict[str, Any]]:
        """The stored objects of ``kind`` (in ``namespace``), by name."""
        with self.changed:
            found = [o for (_, _, ns, _), o in self.objects.items() if o["kind"] == kind and ns == namespace]
        return sorted(found, key=lambda o: o["metadata"]["name"])


def seed(state: State, documents: Iterable[Mapping[str, Any]]) -> int:
    """Put every Kubernetes object of ``documents`` (and the Namespaces they use); the number put."""
    for api_version, kind in BUILT_IN:
        state.serve(api_version, kind)
    count = 0
    namespaces: set[str] = set()
    for doc in documents:
        if not isinstance(doc, dict) or not isinstance(doc.get("metadata"), dict):
            continue
        if not isinstance(doc.get("apiVersion"), str) or not isinstance(doc.get("kind"), str):
            continue
        if not doc["metadata"].get("name") or doc["kind"].endswith("List"):
            continue
        obj = state.put(doc)
        namespaces.add(obj["metadata"].get("namespace", ""))
        count += 1
    for namespace in sorted(namespaces - {""}):
        if ("", "namespaces", "", namespace) not in state.objects:
            state.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    return count


def real_documents(shared: Path, *, projects: Iterable[str] = ()) -> Iterator[dict[str, Any]]:
    """The Kubernetes objects of ``shared/bench/real`` (of ``projects`` only, when given), file by file."""
    wanted = tuple(projects)
    for path in sorted((shared / "bench" / "real").rglob("*.y*ml")):
        if wanted and path.relative_to(shared / "bench" / "real").parts[0] not in wanted:
            continue
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (yaml.YAMLError, UnicodeDecodeError):
            continue
        yield from (d for d in docs if isinstance(d, dict) and "apiVersion" in d and "kind" in d)


def seed_documents(shared: Path) -> list[dict[str, Any]]:
    """``bench/seeds.json.gz``: the real objects of ``bench/real`` as JSON (for the benchmark's copies)."""
    with gzip.open(shared / "bench" / "seeds.json.gz") as stream:
        return [entry["doc"] for entry in json.load(stream)]
