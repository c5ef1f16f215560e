"""Cluster API documents through the capi pack: results point at each kind's own fields."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from leitplanke import engine
from leitplanke.engine import loading
from leitplanke.sources import files

NOW = datetime(2025, 6, 1, tzinfo=UTC)
MANIFESTS = """\
apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: KubeadmControlPlane
metadata: {name: old-control-plane, namespace: clusters}
spec:
  replicas: 3
  version: v1.29.10
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: MachineDeployment
metadata: {name: old-workers, namespace: clusters}
spec:
  clusterName: old
  template:
    spec:
      clusterName: old
      version: v1.28.3
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata: {name: old, namespace: clusters}
spec:
  topology:
    class: aws-default
    version: "${KUBERNETES_VERSION}"
---
apiVersion: cluster.x-k8s.io/v1beta1
kind: Cluster
metadata: {name: older, namespace: clusters}
spec:
  topology:
    class: aws-default
    version: v1.27.16
"""


def test_each_kind_s_version_result_points_at_its_own_version_field(tmp_path: Path) -> None:
    path = tmp_path / "clusters.yaml"
    path.write_text(MANIFESTS)
    loaded = loading.load_packs(["capi"], now=NOW)
    policy_set = engine.compile(loaded.policies)
    assert policy_set.problems == ()
    sources = list(files.iter_sources([str(path)]))
    report = engine.Collected()
    engine.scan(policy_set, sources, report, load=files.load_source, now=NOW, jobs=1)
    found = {
        (r.rule, r.resource.display, r.location.line, r.location.path, r.verdict.value)
        for r in report.results
        if r.policy == "capi-supported-kubernetes-version" and r.verdict.value != "pass" and r.location
    }
    assert found == {
        (
            "control-plane-version",
            "KubeadmControlPlane/clusters/old-control-plane",
            6,
            "spec.version",
            "fail",
        ),
        (
            "machine-deployment-version",
            "MachineDeployment/clusters/old-workers",
            16,
            "spec.template.spec.version",
            "fail",
        ),
        ("topology-version-templated", "Cluster/clusters/old", 24, "spec.topology.version", "warn"),
        ("topology-version", "Cluster/clusters/older", 32, "spec.topology.version", "fail"),
    }
