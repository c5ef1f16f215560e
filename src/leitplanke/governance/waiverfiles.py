"""Waivers as files: ``kind: Waiver`` documents for ``scan --waivers`` and Kyverno ``PolicyException``
objects, rendered from ``governance.waivers.WaiverView``. Called by the service's export route."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml

from leitplanke.governance.waivers import WaiverView

# Kyverno names the rules it generates for pod controllers from a Pod rule with these prefixes
_AUTOGEN_PREFIX = {
    "Deployment": "autogen-",
    "DaemonSet": "autogen-",
    "StatefulSet": "autogen-",
    "ReplicaSet": "autogen-",
    "ReplicationController": "autogen-",
    "Job": "autogen-",
    "CronJob": "autogen-cronjob-",
}


def expiry_value(expires: datetime) -> str:
    return expires.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_native(views: Sequence[WaiverView]) -> str:
    """``kind: Waiver`` documents that ``leitplanke scan --waivers`` reads."""
    documents = []
    for view in views:
        spec: dict[str, Any] = {"policies": view.policies}
        if view.rules:
            spec["rules"] = view.rules
        spec["match"] = [_match(r) for r in view.resources]
        spec.update(
            {
                "reason": view.justification,
                "owner": view.team,
                "approver": view.decided_by,
                "requester": view.requester,
                "expires": expiry_value(view.expires),
            }
        )
        documents.append(
            {
                "apiVersion": "leitplanke.dev/v1",
                "kind": "Waiver",
                "metadata": {
                    "name": view.name,
                    "labels": {"leitplanke.dev/app": view.app, "leitplanke.dev/env": view.env},
                },
                "spec": spec,
            }
        )
    return _dump_all(documents)


def render_kyverno(views: Sequence[WaiverView]) -> str:
    """Kyverno ``PolicyException`` (kyverno.io/v2) documents, one per waiver."""
    documents = []
    for view in views:
        kinds = {r["kind"] for r in view.resources}
        documents.append(
            {
                "apiVersion": "kyverno.io/v2",
                "kind": "PolicyException",
                "metadata": {
                    "name": view.name,
                    "labels": {"app.kubernetes.io/managed-by": "leitplanke"},
                    "annotations": {
                        "leitplanke.dev/app": view.app,
                        "leitplanke.dev/env": view.env,
                        "leitplanke.dev/expires": expiry_value(view.expires),
                        "leitplanke.dev/approver": view.decided_by,
                        "leitplanke.dev/reason": view.justification,
                    },
                },
                "spec": {
                    "exceptions": [
                        {"policyName": policy, "ruleNames": _kyverno_rules(view.rules, kinds)}
                        for policy in view.policies
                    ],
                    "match": {"any": [{"resources": _match(r)} for r in view.resources]},
                },
            }
        )
    return _dump_all(documents)


def _kyverno_rules(rules: Sequence[str], kinds: set[str]) -> list[str]:
    if not rules:
        return ["*"]
    prefixes = sorted({_AUTOGEN_PREFIX[k] for k in kinds if k in _AUTOGEN_PREFIX})
    return [*rules, *(prefix + rule for prefix in prefixes for rule in rules)]


def _match(resource: Mapping[str, str]) -> dict[str, list[str]]:
    match = {"kinds": [resource["kind"]]}
    if resource["namespace"]:
        match["namespaces"] = [resource["namespace"]]
    match["names"] = [resource["name"]]
    return match


def _dump_all(documents: Sequence[Mapping[str, Any]]) -> str:
    return yaml.safe_dump_all(documents, sort_keys=False, default_flow_style=False, allow_unicode=True)
