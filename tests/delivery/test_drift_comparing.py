"""``drift.compare`` and ``drift.build_results``, the interface the CLI and the cluster agent call: how
objects are paired, which live objects are never extra, and the results drift becomes."""

from __future__ import annotations

import copy

from driftcases import DEPLOYMENT, document, mutated

from leitplanke.core.documents import Document, Origin
from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.delivery import drift

CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {A: '1'}\n"
ROLE = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: reader}\nrules: []\n"


def _statuses(found: list[drift.DriftResult]) -> list[tuple[str, str, str, str]]:
    return [(i.status.value, i.resource.kind, i.resource.namespace, i.resource.name) for i in found]


def test_a_desired_object_without_a_namespace_is_compared_in_the_default_one_unless_cluster_scoped() -> None:
    live = [
        document(CONFIGMAP.replace("{name: web}", "{name: web, namespace: shop}"), file="live.yaml"),
        document(ROLE, file="live.yaml"),
    ]
    assert _statuses(
        drift.compare([document(CONFIGMAP), document(ROLE)], live, default_namespace="shop")
    ) == [
        ("in-sync", "ClusterRole", "", "reader"),
        ("in-sync", "ConfigMap", "shop", "web"),
    ]
    assert _statuses(drift.compare([document(CONFIGMAP)], live[:1])) == [
        ("missing", "ConfigMap", "default", "web"),
        ("extra", "ConfigMap", "shop", "web"),
    ]


def test_objects_pair_by_group_not_version() -> None:
    desired = document(DEPLOYMENT)
    live = Document(mutated(DEPLOYMENT, lambda b: b.update(apiVersion="apps/v1beta2")), Origin("live.yaml"))
    found = drift.compare([desired], [live])
    assert _statuses(found) == [("drifted", "Deployment", "shop", "web")]
    assert [line for line in found[0].diff.splitlines() if line[:1] in "+-"][2:] == [
        "-apiVersion: apps/v1",
        "+apiVersion: apps/v1beta2",
    ]


def test_what_the_cluster_makes_by_itself_is_never_extra() -> None:
    made = [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kube-root-ca.crt, namespace: shop}\n",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: default, namespace: shop}\n",
        "apiVersion: v1\nkind: Event\nmetadata: {name: web.17f, namespace: shop}\n",
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-x7, namespace: shop}\n",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web-1, namespace: shop, ownerReferences: [{kind: ReplicaSet, name: web-5d}]}\n",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web, namespace: shop}\n",
    ]
    assert _statuses(drift.compare([], [document(text) for text in made])) == [
        ("extra", "ServiceAccount", "shop", "web"),
    ]


def test_documents_of_other_domains_and_without_a_name_are_left_out() -> None:
    sshd = Document({"apiVersion": "config.leitplanke.dev/v1", "kind": "SshdConfig"}, Origin("sshd"), "sshd")
    nameless = document("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n")
    assert drift.compare([sshd, nameless], [sshd]) == []


def test_comparing_leaves_the_documents_as_they_were() -> None:
    desired, live = document(DEPLOYMENT), document(DEPLOYMENT.replace("1.27", "1.28"), file="live.yaml")
    before = copy.deepcopy((dict(desired.body), dict(live.body)))
    drift.compare([desired], [live])
    assert (desired.body, live.body) == before


def test_what_is_not_in_sync_becomes_failing_results_of_policy_drift_kind() -> None:
    desired = [document(DEPLOYMENT, file="apps/shop/web.yaml"), document(CONFIGMAP, file="apps/shop/cm.yaml")]
    live = [
        Document(mutated(DEPLOYMENT, lambda b: b["spec"].update(replicas=3)), Origin("live/web.yaml")),
        document(ROLE, file="live/role.yaml"),
    ]
    found = drift.compare(desired, live)
    results = drift.build_results(found, severity=Severity.HIGH)
    deployment = Resource("apps/v1", "Deployment", "shop", "web")
    assert results == [
        Result(
            "drift.clusterrole",
            "extra",
            Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "", "reader"),
            Verdict.FAIL,
            Severity.HIGH,
            "ClusterRole/reader is live but not in Git",
            Location("live/role.yaml", 0, "", 0),
            category="drift",
        ),
        Result(
            "drift.configmap",
            "missing",
            Resource("v1", "ConfigMap", "default", "web"),
            Verdict.FAIL,
            Severity.HIGH,
            "ConfigMap/default/web is in Git but not live",
            Location("apps/shop/cm.yaml", 0, "", 0),
            category="drift",
        ),
        Result(
            "drift.deployment",
            "drifted",
            deployment,
            Verdict.FAIL,
            Severity.HIGH,
            "Deployment/shop/web differs from Git:\n"
            "--- desired/Deployment/shop/web\n"
            "+++ live/Deployment/shop/web\n"
            "@@ -5,6 +5,7 @@\n"
            "     app: web\n"
            "   name: web\n"
            " spec:\n"
            "+  replicas: 3\n"
            "   selector:\n"
            "     matchLabels:\n"
            "       app: web\n",
            Location("apps/shop/web.yaml", 0, "", 0),
            category="drift",
        ),
    ]
