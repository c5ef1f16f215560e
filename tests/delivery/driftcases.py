"""Shared by the drift tests: YAML to Documents, and the changed lines of a drift's diff."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import yaml

from leitplanke.core.documents import Document, Origin
from leitplanke.delivery import drift, driftignoring

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports: [{containerPort: 8080, name: http}, {containerPort: 9090, name: metrics}]
        env: [{name: A, value: "1"}, {name: B, value: "2"}]
        resources: {limits: {cpu: "1", memory: 1Gi}, requests: {cpu: 500m, memory: 512Mi}}
      - name: log
        image: fluent/fluent-bit:3.1
"""

Mutation = Callable[[dict[str, Any]], None]


def document(text: str, *, file: str = "desired.yaml") -> Document:
    return Document(yaml.safe_load(text), Origin(file))


def mutated(text: str, *mutations: Mutation) -> dict[str, Any]:
    body: dict[str, Any] = copy.deepcopy(yaml.safe_load(text))
    for mutation in mutations:
        mutation(body)
    return body


def pod(body: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = body["spec"]["template"]["spec"]
    return spec


def container(body: dict[str, Any], number: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = pod(body)["containers"][number]
    return found


def changed_lines(
    desired: dict[str, Any], live: dict[str, Any], *, rules: Sequence[driftignoring.IgnoreRule] = ()
) -> list[str]:
    """The ``-``/``+`` lines of the diff of one object (``[]``: in sync), headers left out."""
    found = drift.compare(
        [Document(desired, Origin("desired.yaml"))], [Document(live, Origin("live.yaml"))], rules=rules
    )
    assert [item.status for item in found] in ([drift.Status.IN_SYNC], [drift.Status.DRIFTED])
    lines = found[0].diff.splitlines()
    return [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]
