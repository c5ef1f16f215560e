"""Drift from a real Git repository in a temporary directory: plain manifests, a Kustomize overlay and a Helm
chart rendered as ``scan`` renders them, at a branch, a tag or a commit, against hand-written live exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from driftcases import LIVE, git, write

from leitplanke.core.problems import UsageError
from leitplanke.delivery import drift, driftloading, gitrepos

needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl renders Kustomize")


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
    write(only_service, {"service.yaml": LIVE.split("- apiVersion: v1\n  kind: Service")[0]})
    assert _statuses(_compare(repo, only_service, revision="v1", path="apps/plain")) == [
        ("in-sync", "Deployment", "web"),
        ("missing", "Service", "web"),
    ]


def test_an_unknown_revision_is_gits_own_error(repo: Path) -> None:
    with pytest.raises(
        gitrepos.GitError, match=r"git archive nope exited with 128: fatal: not a valid object name"
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
