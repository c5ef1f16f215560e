"""Commit times come from a real Git repository's history: the commits a deployment brought are those
reachable from its revision and not from the previous deployment's (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from leitplanke import catalog
from leitplanke.delivery import commits, deliveryevents, deliveryviews, deployments, gitrepos
from leitplanke.store import deliveries
from leitplanke.store.deliveryrows import DeploymentCommit

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _commit(repo: Path, message: str, at: datetime) -> str:
    stamp = f"{int(at.timestamp())} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    (repo / "app.txt").write_text(message)
    subprocess.run(["git", "-C", str(repo), "add", "app.txt"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-q", "-m", message], check=True, env=env)
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.email", "dev@example.com"], check=True)
    subprocess.run(["git", "-C", str(path), "config", "user.name", "Dev"], check=True)
    return path


def test_the_commits_between_two_revisions_are_read_with_their_commit_times(repo: Path) -> None:
    first = _commit(repo, "one", T0)
    second = _commit(repo, "two", T0 + timedelta(hours=1))
    third = _commit(repo, "three", T0 + timedelta(hours=2))
    read = commits.read_commits(repo, revision=third, since=first)
    assert read == commits.CommitsRead(
        (
            deliveryevents.CommitTime(second, T0 + timedelta(hours=1)),
            deliveryevents.CommitTime(third, T0 + timedelta(hours=2)),
        )
    )
    assert commits.read_commits(repo, revision=first, since=None).commits == (
        deliveryevents.CommitTime(first, T0),
    )


def test_an_unknown_revision_or_an_option_is_a_problem_not_a_crash(repo: Path) -> None:
    _commit(repo, "one", T0)
    unknown = commits.read_commits(repo, revision="f" * 40, since=None)
    assert unknown.commits == () and unknown.problem.startswith("git rev-list in ")
    with pytest.raises(gitrepos.GitError, match="not a revision git is given: '--output=/tmp/x'"):
        gitrepos.commits_between(repo, revision="--output=/tmp/x", since=None, limit=1)
    assert (
        commits.read_commits(None, revision="abc", since=None).problem == "no local repository for this app"
    )


def test_deployments_record_the_commits_of_the_apps_repository_and_their_lead_times(
    database: Any, repo: Path
) -> None:
    catalog.put_team(database, catalog.TeamSpec(name="team-shop"), actor="test", now=T0)
    spec = catalog.AppSpec(name="checkout", owner="team-shop", repository=f"file://{repo}")
    catalog.put_app(database, spec, actor="test", now=T0)
    catalog.put_environment(database, catalog.EnvironmentSpec(name="prod"), actor="test", now=T0)
    first = _commit(repo, "one", T0)
    second = _commit(repo, "two", T0 + timedelta(hours=1))
    third = _commit(repo, "three", T0 + timedelta(hours=3))

    def deploy(revision: str, at: datetime) -> deployments.Recorded:
        event = deliveryevents.DeploymentEvent("argocd", "checkout", "prod", revision, "succeeded", at)
        return deployments.record_deployment(database, event, actor="test", now=at)

    one = deploy(first, T0 + timedelta(hours=2))  # the first: its own commit only
    two = deploy(third, T0 + timedelta(hours=4))  # brings two and three
    assert (one.commits, two.commits, two.problem) == (1, 2, "")
    with database.reading() as session:
        stored = session.execute(
            select(
                DeploymentCommit.deployment_id, DeploymentCommit.sha, DeploymentCommit.committed_at
            ).order_by(DeploymentCommit.committed_at)
        ).all()
    assert [tuple(row) for row in stored] == [
        (one.deployment_id, first, T0),
        (two.deployment_id, second, T0 + timedelta(hours=1)),
        (two.deployment_id, third, T0 + timedelta(hours=3)),
    ]
    report = deliveryviews.dora_report(
        database, deliveries.Scope(app="checkout"), now=T0 + timedelta(days=1), days=1
    )
    # lead times 2 h, 3 h and 1 h: the median is 2 h
    assert (report.figures.deployments, report.figures.lead_time_seconds) == (2, 7200.0)
