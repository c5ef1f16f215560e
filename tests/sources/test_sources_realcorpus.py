"""Every file of the shared real-world corpus (../shared/bench/real) through the directory walk.

Checked against ``MANIFEST.tsv``: per file, the documents and their kinds, and nothing else reported
than the duplicate keys the upstream files really have.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from leitplanke.core.documents import Document, SkippedInput
from leitplanke.core.problems import Level, Problem
from leitplanke.sources import files

BENCH = Path(__file__).parents[2].parent / "shared" / "bench"
REAL = BENCH / "real"

# MANIFEST.tsv counts a List as one resource; the loader gives each of its items instead.
LISTS = {
    "microservices-demo__microservices-demo/deploy/kubernetes/manifests-jaeger/jaeger.yaml": {
        "Deployment": 1,
        "Namespace": 1,
        "Service": 4,
    },
    "prometheus-operator__kube-prometheus/manifests/grafana-dashboardDefinitions.yaml": {"ConfigMap": 33},
    "prometheus-operator__kube-prometheus/manifests/prometheus-roleBindingSpecificNamespaces.yaml": {
        "RoleBinding": 3
    },
    "prometheus-operator__kube-prometheus/manifests/prometheus-roleSpecificNamespaces.yaml": {"Role": 3},
}
# keys that really occur twice upstream (kubectl with strict validation would refuse these files)
DUPLICATE_KEYS = {
    ("kubernetes__examples/_archived/openshift-origin/etcd-controller.yaml", 12, "spec.selector"),
    ("kubernetes__examples/_archived/openshift-origin/etcd-discovery-controller.yaml", 12, "spec.selector"),
    ("kubernetes__examples/_archived/openshift-origin/openshift-controller.yaml", 12, "spec.selector"),
    (
        "kubernetes__examples/_archived/persistent-volume-provisioning/quobyte/quobyte-admin-secret.yaml",
        9,
        "type",
    ),
    ("kubernetes__examples/_archived/volumes/scaleio/sc-pvc.yaml", 12, "spec.storageClassName"),
}


def manifest_rows() -> list[dict[str, str]]:
    with (BENCH / "MANIFEST.tsv").open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


def kinds_column(text: str) -> dict[str, int]:
    pairs = (item.split(":") for item in text.split(";") if item)
    return {kind: int(count) for kind, count in pairs}


@pytest.mark.skipif(not REAL.is_dir(), reason=f"the shared real-world corpus is not at {REAL}")
def test_the_real_corpus_loads_with_exactly_the_documents_of_its_manifest() -> None:
    documents: dict[str, Counter[str]] = {}
    skipped: set[str] = set()
    problems: set[tuple[str, int, str]] = set()
    configs: set[str] = set()
    for source in files.iter_sources([str(REAL)]):
        assert source.kind == "file"
        for item in files.load_source(source):
            name = str(Path(source.path).relative_to(REAL))
            if isinstance(item, Document) and item.domain != "kubernetes":
                configs.add(name)  # Envoy and NGINX files: tests/configs checks what they hold
            elif isinstance(item, Document):
                documents.setdefault(name, Counter())[item.kind] += 1
            elif isinstance(item, Problem) and item.code.startswith("nginx-"):
                continue  # the two explained in tests/configs/test_configs_real.py
            elif isinstance(item, SkippedInput):
                skipped.add(name)
            else:
                assert isinstance(item, Problem) and item.level is Level.WARNING, item.render()
                problems.add((name, item.line, item.field))

    rows = manifest_rows()
    kubernetes = {row["path"].removeprefix("real/"): row for row in rows if row["category"] == "kubernetes"}
    expected = {name: LISTS.get(name) or kinds_column(row["kinds"]) for name, row in kubernetes.items()}
    assert {name: dict(kinds) for name, kinds in documents.items()} == expected
    assert skipped == set()
    assert {
        row["path"].removeprefix("real/") for row in rows if row["category"] in ("envoy", "nginx")
    } <= configs
    assert problems == DUPLICATE_KEYS

    manifest_total = sum(int(row["resources"]) for row in kubernetes.values())
    list_items = sum(sum(kinds.values()) for kinds in LISTS.values())
    assert manifest_total == 1515
    loaded = sum(sum(kinds.values()) for kinds in documents.values())
    assert loaded == manifest_total - len(LISTS) + list_items == 1556
    assert list_items == 45
