"""Drift from a real Git repository in a temporary directory: plain manifests, a Kustomize overlay and a Helm
chart rendered as ``scan`` renders them, at a branch, a tag or a commit, against hand-written live exports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from leitplanke.core.problems import UsageError
from leitplanke.delivery import drift, driftloading, gitrevisions

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders Kustomize")

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


def _write(root: Path, files: dict[str, str]) -> None:
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


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose tag v1 holds WEB_V1 (plain, as an overlay and as a chart) and whose main moved on
    to nginx:1.28 in the plain manifests."""
    root = tmp_path / "gitops"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    _write(root, {"apps/plain/web.yaml": WEB_V1})
    _write(
        root,
        {
            "apps/base/web.yaml": WEB_V1.replace("namespace: shop", "namespace: base"),
            "apps/base/kustomization.yaml": "resources: [web.yaml]\n",
            "apps/prod/kustomization.yaml": "resources: [../base]\nnamespace: shop\n",
        },
    )
    _write(root / "charts" / "web", CHART)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v1")
    git(root, "tag", "v1")
    _write(root, {"apps/plain/web.yaml": WEB_V2})
    git(root, "commit", "-q", "-am", "nginx 1.28")
    return root


@pytest.fixture
def live(tmp_path: Path) -> Path:
    exports = tmp_path / "live"
    _write(exports, {"shop.yaml": LIVE, "cluster-made.yaml": CLUSTER_MADE})
    return exports


def _statuses(found: list[drift.DriftResult]) -> list[tuple[str, str, str]]:
    return [(item.status.value, item.resource.kind, item.resource.name) for item in found]


def _compare(
    repo: Path, live: Path, *, revision: str, path: str, values: tuple[str, ...] = ()
) -> list[drift.DriftResult]:
    desired = driftloading.load_desired(repo=str(repo), revision=revision, path=path, helm_values=values)
    running = driftloading.load_live(str(live))
    assert desired.problems == running.problems == []
    return drift.compare(desired.documents, running.documents)


def test_plain_manifests_at_a_tag_are_in_sync_with_what_the_server_made_of_them(
    repo: Path, live: Path
) -> None:
    assert _statuses(_compare(repo, live, revision="v1", path="apps/plain")) == [
        ("extra", "ConfigMap", "hotfix"),
        ("in-sync", "Deployment", "web"),
        ("in-sync", "Service", "web"),
    ]


def test_a_change_in_git_not_yet_live_is_drift_with_the_diff(repo: Path, live: Path) -> None:
    found = _compare(repo, live, revision="main", path="apps/plain")
    (deployment,) = [item for item in found if item.resource.kind == "Deployment"]
    assert deployment.status is drift.Status.DRIFTED
    assert deployment.diff == (
        "--- desired/Deployment/shop/web\n"
        "+++ live/Deployment/shop/web\n"
        "@@ -12,7 +12,7 @@\n"
        "         app: web\n"
        "     spec:\n"
        "       containers:\n"
        "-      - image: nginx:1.28\n"
        "+      - image: nginx:1.27\n"
        "         name: web\n"
        "         resources:\n"
        "           limits:\n"
    )
    assert deployment.desired is not None and deployment.desired.origin.file == "apps/plain/web.yaml"


def test_a_commit_id_names_a_revision_as_a_branch_does(repo: Path, live: Path) -> None:
    commit = git(repo, "rev-parse", "v1")
    assert _statuses(_compare(repo, live, revision=commit, path="apps/plain"))[1:] == [
        ("in-sync", "Deployment", "web"),
        ("in-sync", "Service", "web"),
    ]


@needs_kubectl
def test_a_kustomize_overlay_is_rendered_with_its_base_outside_the_path(repo: Path, live: Path) -> None:
    assert _statuses(_compare(repo, live, revision="v1", path="apps/prod")) == [
        ("extra", "ConfigMap", "hotfix"),
        ("in-sync", "Deployment", "web"),
        ("in-sync", "Service", "web"),
    ]


def test_a_helm_chart_is_rendered_with_a_values_file_of_the_repository(repo: Path, live: Path) -> None:
    found = _compare(repo, live, revision="v1", path="charts/web", values=("charts/web/values-prod.yaml",))
    assert _statuses(found) == [
        ("extra", "ConfigMap", "hotfix"),
        ("in-sync", "Deployment", "web"),
        ("extra", "Service", "web"),
    ]


def test_a_repository_url_is_cloned_first(repo: Path) -> None:
    desired = driftloading.load_desired(repo=f"file://{repo}", revision="v1", path="apps/plain")
    assert [document.display for document in desired.documents] == ["Deployment/shop/web", "Service/shop/web"]


def test_an_object_git_holds_that_is_not_live_is_missing(repo: Path, tmp_path: Path) -> None:
    only_service = tmp_path / "only-service"
    _write(only_service, {"service.yaml": LIVE.split("- apiVersion: v1\n  kind: Service")[0]})
    assert _statuses(_compare(repo, only_service, revision="v1", path="apps/plain")) == [
        ("in-sync", "Deployment", "web"),
        ("missing", "Service", "web"),
    ]


def test_an_unknown_revision_is_gits_own_error(repo: Path) -> None:
    with pytest.raises(
        gitrevisions.GitFailed, match=r"git archive nope exited with 128: fatal: not a valid object name"
    ):
        driftloading.load_desired(repo=str(repo), revision="nope", path="apps/plain")


@pytest.mark.parametrize(
    ("revision", "path", "message"),
    [
        ("--output=/tmp/x", "apps/plain", "--revision '--output=/tmp/x': expected a branch, tag or commit"),
        (
            "v1",
            "../outside",
            "--path '../outside': expected a path inside the repository, such as apps/shop/prod",
        ),
        ("v1", "/etc", "--path '/etc': expected a path inside the repository, such as apps/shop/prod"),
        ("v1", "apps/none", "--path 'apps/none': not in {repo} at v1"),
    ],
)
def test_a_revision_or_path_that_could_leave_the_repository_is_refused(
    repo: Path, revision: str, path: str, message: str
) -> None:
    with pytest.raises(UsageError) as raised:
        driftloading.load_desired(repo=str(repo), revision=revision, path=path)
    assert str(raised.value) == message.format(repo=repo)
