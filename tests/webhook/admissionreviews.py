"""AdmissionReview requests as the API server sends them (admission.k8s.io/v1), for the webhook tests."""

from __future__ import annotations

from typing import Any

ADMIN = {"username": "alice", "uid": "1001", "groups": ["dev", "system:authenticated"]}
KINDS = {
    "Pod": ("", "v1", "pods"),
    "ConfigMap": ("", "v1", "configmaps"),
    "Secret": ("", "v1", "secrets"),
    "Service": ("", "v1", "services"),
    "Job": ("batch", "v1", "jobs"),
}


def build_review(
    obj: dict[str, Any] | None,
    *,
    namespace: str,
    operation: str = "CREATE",
    uid: str = "705ab4f5-6393-11e8-b7cc-42010a800002",
    old: dict[str, Any] | None = None,
    user: dict[str, Any] | None = None,
    dry_run: bool = False,
    sub_resource: str = "",
) -> dict[str, Any]:
    body = obj if obj is not None else old
    assert body is not None
    api_version = str(body["apiVersion"])
    group, _, version = api_version.rpartition("/")
    kind = str(body["kind"])
    resource = KINDS.get(kind, (group, version, kind.lower() + "s"))[2]
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": {"group": group, "version": version, "resource": resource},
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": {"group": group, "version": version, "resource": resource},
        "name": body["metadata"]["name"],
        "namespace": namespace,
        "operation": operation,
        "userInfo": user or ADMIN,
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": f"{operation.title()}Options"},
    }
    if sub_resource:
        request["subResource"] = sub_resource
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def pod(
    name: str, *, privileged: bool = False, team: str | None = "shop", namespace: str = ""
) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    if team:
        metadata["labels"] = {"team": team}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": {"containers": [container]}}


def config_map(name: str, owner: str, *, data: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"owner": owner, **(data or {})},
    }
