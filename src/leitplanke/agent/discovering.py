"""Discovering what a cluster serves: every listable, watchable resource type, CRDs included.

Reads the discovery documents (``/api``, ``/api/v1``, ``/apis``, ``/apis/GROUP/VERSION``) of each
group's preferred version, as kubectl does, and leaves out subresources and the excluded types
(events, leases, the reports the agent writes itself). Called by ``agent.running`` at start.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leitplanke.sources import cluster

# resource types that change all the time and carry nothing to audit, or that the agent writes itself:
# "resource" (core group) or "resource.group"
DEFAULT_EXCLUSIONS = (
    "events",
    "events.events.k8s.io",
    "leases.coordination.k8s.io",
    "endpoints",
    "endpointslices.discovery.k8s.io",
    "componentstatuses",
    "bindings",
    "tokenreviews.authentication.k8s.io",
    "policyreports.wgpolicyk8s.io",
    "clusterpolicyreports.wgpolicyk8s.io",
    "reports.openreports.io",
    "clusterreports.openreports.io",
)


@dataclass(frozen=True, slots=True, order=True)
class ServedType:
    """One resource type the agent lists and watches."""

    group: str  # "" for the core group
    version: str
    resource: str  # the plural name in paths: deployments
    kind: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """``deployments.apps``, ``pods``: how exclusions name a type."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def path(self, *, namespace: str = "", name: str = "") -> str:
        """The type's collection path (all namespaces without ``namespace``), or one object's."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        where = f"/namespaces/{namespace}" if namespace else ""
        return f"{base}{where}/{self.resource}" + (f"/{name}" if name else "")


def discover(
    connection: cluster.Connection, *, exclusions: Iterable[str] = DEFAULT_EXCLUSIONS
) -> list[ServedType]:
    """The served types that can be listed and watched, minus ``exclusions``, sorted."""
    excluded = set(exclusions)
    versions = [("", version) for version in connection.get("/api").get("versions", [])]
    for group in connection.get("/apis").get("groups", []):
        preferred = (group.get("preferredVersion") or {}).get("version")
        if preferred:
            versions.append((str(group.get("name", "")), str(preferred)))
    found: list[ServedType] = []
    for group, version in versions:
        path = f"/apis/{group}/{version}" if group else f"/api/{version}"
        found.extend(parse_resources(connection.get(path), group=group, version=version))
    return sorted(t for t in found if t.qualified not in excluded)


def parse_resources(document: Mapping[str, Any], *, group: str, version: str) -> list[ServedType]:
    """The listable and watchable types of one ``APIResourceList`` (no subresources)."""
    served = []
    for resource in document.get("resources") or []:
        name = str(resource.get("name", ""))
        verbs = resource.get("verbs") or []
        if not name or "/" in name or "list" not in verbs or "watch" not in verbs:
            continue
        served.append(
            ServedType(
                group=group,
                version=version,
                resource=name,
                kind=str(resource.get("kind", "")),
                namespaced=bool(resource.get("namespaced")),
            )
        )
    return served
