"""The commits a deployment brought, with their commit times: the start of each change's lead time.

``deployments.record_deployment`` asks ``read_commits`` when an event does not list its commits; the
history is read from the app's repository (a local path or ``file://`` URL in the catalog, or a
mirror ``<mirrors>/<app>``) through ``gitrepos``. Reading failures are values, never a lost deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leitplanke.delivery import deliveryevents, gitrepos

MAX_COMMITS = 10_000  # a deployment that brings more is cut (the newest kept)


@dataclass(frozen=True, slots=True)
class CommitsRead:
    commits: tuple[deliveryevents.CommitTime, ...]
    problem: str = ""  # why none could be read (no repository, unknown revision); "" when read


def repository_path(repository: str, *, app: str, mirrors: Path | None) -> Path | None:
    """Where the app's history can be read: the catalog's repository if it is on this machine, else
    ``mirrors/<app>`` when that exists; None otherwise."""
    local = repository.removeprefix("file://")
    if local.startswith("/") and Path(local).exists():
        return Path(local)
    if mirrors is not None and (mirrors / app).is_dir():
        return mirrors / app
    return None


def read_commits(repository: Path | None, *, revision: str, since: str | None) -> CommitsRead:
    """The commits in ``revision`` and not in ``since`` (the previous deployment's revision; only the
    revision's own commit for a first deployment), oldest first."""
    if repository is None:
        return CommitsRead((), problem="no local repository for this app")
    try:
        logged = gitrepos.commits_between(repository, revision=revision, since=since, limit=MAX_COMMITS)
    except gitrepos.GitError as exc:
        return CommitsRead((), problem=str(exc))
    commits = tuple(deliveryevents.CommitTime(sha=c.sha, committed_at=c.committed_at) for c in logged)
    return CommitsRead(commits[::-1])
