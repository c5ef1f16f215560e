"""Set-level rules over spilled documents: a namespace read back per task, subjects in chunks.

Enough documents (over 200) that the set-level phase runs in forked workers, a partition each;
every subject must see exactly the documents of its namespace, its Namespace object, and the
``collectCluster`` kinds of every namespace, whatever the workers and chunks.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from leitplanke.core.documents import Document, Origin
from leitplanke.engine import collecting, compiling, loading, scanning, sinks

NOW = datetime(2026, 12, 8, tzinfo=UTC)

GUARDED = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: guarded}
spec:
  title: Deployments are guarded
  severity: medium
  match: {kinds: [Deployment]}
  rules:
  - name: guarded
    collect: [Namespace, PodDisruptionBudget]
    collectCluster: [AuthorizationPolicy]
    validate: >-
      documents.exists(d, d.kind == 'Namespace' && d.metadata.?labels[?'ok'].orValue('') == 'yes') ||
      documents.exists(d, d.kind == 'PodDisruptionBudget') ||
      documents.exists(d, d.kind == 'AuthorizationPolicy' &&
        d.metadata.name == 'allow-' + object.metadata.namespace)
    message: "object.metadata.name + ' sees ' + string(documents.size()) + ' documents'"
"""

NAMESPACES = ("ns-a", "ns-b", "ns-c", "ns-d")
PER_NAMESPACE = 70


def _bodies() -> list[dict[str, object]]:
    """ns-a: its Namespace says ok; ns-b: a PodDisruptionBudget; ns-c: an AuthorizationPolicy
    for it, in another namespace; ns-d: nothing but its Namespace and the shared policies."""
    bodies: list[dict[str, object]] = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-a", "labels": {"ok": "yes"}}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns-d"}},
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "p", "namespace": "ns-b"},
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-ns-c", "namespace": "istio-system"},
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": {"name": "allow-other", "namespace": "ns-b"},
        },
    ]
    for n in range(PER_NAMESPACE):
        for namespace in NAMESPACES:
            bodies.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": f"web-{n}", "namespace": namespace},
                }
            )
    return bodies


def _sources(files: int = 8) -> list[list[Document]]:
    sources: list[list[Document]] = [[] for _ in range(files)]
    for position, body in enumerate(_bodies()):
        file = position % files
        sources[file].append(
            Document(body=body, origin=Origin(file=f"f{file}.yaml", index=len(sources[file])))
        )
    return sources


def _scan(*, jobs: int) -> list[tuple[str, str, str, str]]:
    loaded = loading.load_text(GUARDED, file="p.yaml", now=NOW)
    compiled, problems = compiling.compile_policies(loaded.policies)
    assert problems == []
    sink = sinks.Collected()
    scanned = scanning.scan(compiled, _sources(), sink, load=lambda docs: docs, now=NOW, jobs=jobs)
    assert scanned.evaluations == PER_NAMESPACE * len(NAMESPACES)
    report = sink.report(scanned)
    return [(r.resource.namespace, r.resource.name, r.verdict.value, r.message) for r in report.results]


def _expected() -> list[tuple[str, str, str, str]]:
    rows = []
    for position, body in enumerate(_bodies()):
        metadata = body["metadata"]
        assert isinstance(metadata, dict)
        if body["kind"] != "Deployment":
            continue
        namespace, name = metadata["namespace"], metadata["name"]
        # ns-d sees its Namespace and the two AuthorizationPolicies (seen from every namespace)
        failing = namespace == "ns-d"
        message = f"{name} sees 3 documents" if failing else ""
        rows.append((position % 8, position // 8, namespace, name, "fail" if failing else "pass", message))
    rows.sort()  # report order: file, then index in the file
    return [row[2:] for row in rows]


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("at_once", [500, 7])
def test_every_subject_sees_its_namespace_and_the_shared_kinds_whatever_the_workers_and_chunks(
    jobs: int, at_once: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collecting, "_SUBJECTS_AT_ONCE", at_once)
    assert _scan(jobs=jobs) == _expected()
