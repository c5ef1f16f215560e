"""Shared by the drift tests: YAML to Documents, and the changed lines of a drift's diff."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
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


WEB_V1 = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "nginx:1.27", resources: {limits: {memory: 1Gi}}}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80}]
"""
WEB_V2 = WEB_V1.replace("nginx:1.27", "nginx:1.28")
# what `kubectl get deployment,service -n shop -o yaml` prints for WEB_V1: a List, with what the server adds
LIVE = """\
apiVersion: v1
kind: List
metadata: {resourceVersion: ""}
items:
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: web
    namespace: shop
    uid: 6f1e2d3c-0000-4000-8000-000000000001
    resourceVersion: "81234"
    generation: 1
    creationTimestamp: "2026-01-05T09:00:00Z"
    annotations: {deployment.kubernetes.io/revision: "1"}
  spec:
    replicas: 1
    revisionHistoryLimit: 10
    progressDeadlineSeconds: 600
    strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}}
    selector: {matchLabels: {app: web}}
    template:
      metadata: {creationTimestamp: null, labels: {app: web}}
      spec:
        containers:
        - name: web
          image: nginx:1.27
          imagePullPolicy: IfNotPresent
          resources: {limits: {memory: 1024Mi}}
          terminationMessagePath: /dev/termination-log
          terminationMessagePolicy: File
        dnsPolicy: ClusterFirst
        restartPolicy: Always
        schedulerName: default-scheduler
        securityContext: {}
        terminationGracePeriodSeconds: 30
  status: {observedGeneration: 1, replicas: 1, readyReplicas: 1}
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop, uid: 6f1e2d3c-0000-4000-8000-000000000002, resourceVersion: "81200"}
  spec:
    clusterIP: 10.96.0.17
    clusterIPs: [10.96.0.17]
    internalTrafficPolicy: Cluster
    ipFamilies: [IPv4]
    ipFamilyPolicy: SingleStack
    ports: [{port: 80, protocol: TCP, targetPort: 80}]
    selector: {app: web}
    sessionAffinity: None
    type: ClusterIP
  status: {loadBalancer: {}}
"""
# single objects the cluster made itself, and one nobody put in Git
CLUSTER_MADE = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: kube-root-ca.crt, namespace: shop}
data: {ca.crt: "..."}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d9c7b
  namespace: shop
  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: 6f1e2d3c-0000-4000-8000-000000000001}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: hotfix, namespace: shop}
data: {DEBUG: "true"}
"""
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "values.yaml": "image: nginx:1.25\nreplicas: 1\n",
    "values-prod.yaml": "image: nginx:1.27\n",
    "templates/deployment.yaml": (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec:\n"
        "  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
        "      - {name: web, image: {{ .Values.image | quote }}, resources: {limits: {memory: 1Gi}}}\n"
    ),
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "commit.gpgsign=false"]
    done = subprocess.run(
        ["git", *identity, "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()
