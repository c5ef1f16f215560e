"""Change control on both databases with real Git: a bare repository in a temporary folder as each
environment's GitOps remote, a small pre-flight policy, and a catalog with a security team."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from changeflows import T0, build_policy_set, git, put_env

from leitplanke import catalog, engine
from leitplanke.delivery import gitops, proposing


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
