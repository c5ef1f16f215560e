"""The one adapter to the ``git`` CLI for reading history: the commits a deployment brought, with times.

``delivery.commits`` calls it; nothing else in delivery runs ``git`` for reading. Failures (no ``git``,
no repository, an unknown revision, a timeout) are wrapped in ``GitLogError`` with a stable code.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from leitplanke.core.problems import LeitplankeError

# a revision we pass to git: hex object names and plain ref names, never an option (``--…``)
_REVISION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/@{}~^-]{0,199}$")
TIMEOUT_SECONDS = 30.0


class GitLogError(LeitplankeError):
    """The history could not be read."""

    code = "git-log"


@dataclass(frozen=True, slots=True)
class LoggedCommit:
    sha: str
    committed_at: datetime  # the committer time, aware UTC


def check_revision(revision: str) -> str:
    if not _REVISION.match(revision) or ".." in revision:
        raise GitLogError(f"not a revision git is given: {revision!r}")
    return revision


def commits_between(
    repository: Path, *, revision: str, since: str | None, limit: int
) -> tuple[LoggedCommit, ...]:
    """The commits reachable from ``revision`` but not from ``since`` (only ``revision`` itself when
    ``since`` is None), newest first, at most ``limit``."""
    count = 1 if since is None else limit
    args = ["rev-list", f"--max-count={count}", "--format=%H %ct", check_revision(revision)]
    if since is not None:
        args.append("^" + check_revision(since))
    output = _git(repository, [*args, "--"])
    commits = []
    for line in output.splitlines():
        if line.startswith("commit "):
            continue
        sha, _, stamp = line.partition(" ")
        commits.append(LoggedCommit(sha=sha, committed_at=datetime.fromtimestamp(int(stamp), UTC)))
    return tuple(commits)


def resolve(repository: Path, revision: str) -> str:
    """The full object name of a commit (``main``, a short sha, ``main@sha1:…`` already split)."""
    return _git(
        repository, ["rev-parse", "--verify", "--quiet", check_revision(revision) + "^{commit}"]
    ).strip()


def _git(repository: Path, args: list[str]) -> str:
    command = ["git", "-C", str(repository), "-c", "core.quotepath=off", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False)
    except FileNotFoundError as exc:
        raise GitLogError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitLogError(f"git {args[0]} in {repository} took over {TIMEOUT_SECONDS:.0f} s") from exc
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise GitLogError(f"git {args[0]} in {repository}: {reason}")
    return done.stdout
