"""Fixtures of the delivery tests. Drift: a real Git repository and a directory of live exports. Change
control: both databases with a bare repository in a temporary folder as each environment's GitOps
remote, a small pre-flight policy, and a catalog with a security team."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from changeflows import T0, build_policy_set, git, put_env
from driftcases import CHART, CLUSTER_MADE, LIVE, WEB_V1, WEB_V2, git as drift_git, write

from leitplanke import catalog, engine
from leitplanke.delivery import gitops, proposing


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose tag v1 holds WEB_V1 (plain, as an overlay and as a chart) and whose main moved on
    to nginx:1.28 in the plain manifests."""
    root = tmp_path / "gitops"
    root.mkdir()
    drift_git(root, "init", "-q", "-b", "main")
    write(root, {"apps/plain/web.yaml": WEB_V1})
    write(
        root,
        {
            "apps/base/web.yaml": WEB_V1.replace("namespace: shop", "namespace: base"),
            "apps/base/kustomization.yaml": "resources: [web.yaml]\n",
            "apps/prod/kustomization.yaml": "resources: [../base]\nnamespace: shop\n",
        },
    )
    write(root / "charts" / "web", CHART)
    drift_git(root, "add", "-A")
    drift_git(root, "commit", "-q", "-m", "v1")
    drift_git(root, "tag", "v1")
    write(root, {"apps/plain/web.yaml": WEB_V2})
    drift_git(root, "commit", "-q", "-am", "nginx 1.28")
    return root


@pytest.fixture
def live(tmp_path: Path) -> Path:
    exports = tmp_path / "live"
    write(exports, {"shop.yaml": LIVE, "cluster-made.yaml": CLUSTER_MADE})
    return exports


@dataclass
class Setup:
    database: Any
    tools: proposing.Tools
    remote: Path
    root: Path


@pytest.fixture
def policy_set() -> engine.PolicySet:
    return build_policy_set()


@pytest.fixture
def setup(catalog_database: Any, tmp_path: Path, policy_set: engine.PolicySet) -> Setup:
    """prod (enforce) needs one approver of team-shop and one of team-security for RBAC kinds; its
    manifests go to envs/prod on branch main of a bare repository."""
    remote = tmp_path / "gitops.git"
    git("init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    catalog.put_team(catalog_database, catalog.TeamSpec(name="team-security"), actor="test", now=T0)
    control = {
        "approvals": {"required": 1, "expiresAfter": "8h", "secondTeam": "team-security"},
        "failureMode": "closed",
        "gitops": {"repository": str(remote), "branch": "main", "path": "envs/prod"},
    }
    put_env(catalog_database, "prod", "enforce", control)
    writer = gitops.Writer(tmp_path / "work")
    tools = proposing.Tools(policies=lambda: policy_set, writer=writer)
    return Setup(database=catalog_database, tools=tools, remote=remote, root=tmp_path)
