"""Fixtures of the drift tests: a real Git repository and a directory of live exports."""

from __future__ import annotations

from pathlib import Path

import pytest
from driftcases import CHART, CLUSTER_MADE, LIVE, WEB_V1, WEB_V2, git, write


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository whose tag v1 holds WEB_V1 (plain, as an overlay and as a chart) and whose main moved on
    to nginx:1.28 in the plain manifests."""
    root = tmp_path / "gitops"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
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
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v1")
    git(root, "tag", "v1")
    write(root, {"apps/plain/web.yaml": WEB_V2})
    git(root, "commit", "-q", "-am", "nginx 1.28")
    return root


@pytest.fixture
def live(tmp_path: Path) -> Path:
    exports = tmp_path / "live"
    write(exports, {"shop.yaml": LIVE, "cluster-made.yaml": CLUSTER_MADE})
    return exports
