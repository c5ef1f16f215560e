"""The one adapter to the ``git`` CLI: the writer's working copy, the history reader, the tree export.

``gitops`` commits and pushes through ``WorkingCopy``; ``commits`` reads a deployment's commits with
``commits_between``; ``driftloading`` reads a desired state with ``export_revision``. The only module
that runs ``git`` (``tests/delivery/test_git_adapter.py`` checks it); every failure is a ``GitError``::

    SourceError
     └── GitError            code ``git``: git missing, a timeout, an unknown revision, git's own words
          └── PushRejected   code ``git-push-rejected``: the remote branch moved on since the fetch
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from leitplanke.core.problems import SourceError, UsageError

TIMEOUT = 120.0  # seconds for one git command (a clone or push over the network)
LOG_TIMEOUT = 30.0  # reading history on this machine
EXPORT_TIMEOUT = 300.0  # a clone and archive of a whole tree
COMMITTER = ("leitplanke", "leitplanke@leitplanke.invalid")
MAX_EXPORT_BYTES = 512 * 1024 * 1024  # a repository's tree at one revision, unpacked
_STDERR_CHARS = 2000
# a revision the history reader passes to git: hex object names and plain ref names, never an option
_REVISION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/@{}~^-]{0,199}$")


class GitError(SourceError):
    """A git command failed: git is missing, the repository cannot be reached, a push was refused, …"""

    code = "git"


class PushRejected(GitError):
    """The remote branch moved on since it was fetched (not a fast-forward)."""

    code = "git-push-rejected"


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    email: str


def person_of(subject: str) -> Person:
    """A subject (``user:alice@example.com``, ``service:ci``) as a commit's author."""
    name = subject.partition(":")[2] or subject
    email = name if "@" in name else f"{name}@leitplanke.invalid"
    return Person(name=name, email=email)


class WorkingCopy:
    """A clone of ``remote`` in ``path``, following ``branch``."""

    def __init__(self, path: Path, *, remote: str, branch: str) -> None:
        self.path, self.remote, self.branch = path, remote, branch

    def _run(
        self, args: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> str:
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self.path.parent),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            # no ext:: or fd:: remotes (they run commands): the transports a GitOps repository uses
            "GIT_ALLOW_PROTOCOL": "file:https:ssh:git",
            "LC_ALL": "C",
            **(env or {}),
        }
        try:
            done = subprocess.run(
                ["git", *args],
                cwd=cwd or self.path,
                env=environment,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GitError(f"git {args[0]}: {exc}") from exc
        if done.returncode != 0:
            message = (done.stderr or done.stdout).strip()
            if args[0] == "push" and ("non-fast-forward" in message or "fetch first" in message):
                raise PushRejected(f"git push to {self.remote} was rejected: {message}")
            raise GitError(f"git {args[0]} failed ({done.returncode}): {message}")
        return done.stdout

    def sync(self) -> None:
        """Clone on first use, else fetch; then the branch as the remote has it (an empty remote: a
        new branch with no commits)."""
        if not (self.path / ".git").is_dir():
            self.path.mkdir(parents=True, exist_ok=True)
            self._run(["init", "--quiet", str(self.path)], cwd=self.path.parent)
            self._run(["remote", "add", "origin", "--", self.remote])
        self._run(["fetch", "--quiet", "--prune", "origin"])
        if self.remote_head() is None:
            self._run(["checkout", "--quiet", "--orphan", self.branch])
            self._run(["rm", "-r", "--quiet", "--cached", "--ignore-unmatch", "."])
            self._run(["clean", "-fdq"])
        else:
            self._run(["checkout", "--quiet", "-B", self.branch, f"origin/{self.branch}"])
            self._run(["reset", "--quiet", "--hard", f"origin/{self.branch}"])
            self._run(["clean", "-fdq"])

    def remote_head(self) -> str | None:
        out = self._run(["ls-remote", "--heads", "origin", f"refs/heads/{self.branch}"])
        return out.split()[0] if out.strip() else None

    def _inside(self, file: str) -> Path:
        """``file`` in the working copy; GitError for a path that leaves it."""
        target = (self.path / file).resolve()
        if not target.is_relative_to(self.path.resolve()) or ".git" in Path(file).parts:
            raise GitError(f"{file!r} is not a file of the working copy")
        return target

    def read(self, file: str) -> str:
        """The file as the working copy has it ("" when absent)."""
        target = self._inside(file)
        return target.read_text(encoding="utf-8") if target.is_file() else ""

    def commit_file(
        self, file: str, content: str, *, author: Person, message: str, at: datetime | None = None
    ) -> str:
        """Write (or, for empty content, remove) ``file`` and commit it as ``author``, committed and
        signed off by leitplanke, dated ``at`` (the caller's clock; None: now); the new commit's sha."""
        target = self._inside(file)
        if content:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
            self._run(["add", "--", file])
        elif target.exists():
            self._run(["rm", "--quiet", "--", file])
        env = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": COMMITTER[0],
            "GIT_COMMITTER_EMAIL": COMMITTER[1],
        }
        if at is not None:
            stamp = f"@{int(at.timestamp())} +0000"
            env |= {"GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
        self._run(["commit", "--quiet", "--allow-empty", "--signoff", "--no-verify", "-m", message], env=env)
        return self._run(["rev-parse", "HEAD"]).strip()

    def push(self) -> None:
        self._run(["push", "--quiet", "origin", f"HEAD:refs/heads/{self.branch}"])

    def find_commit(self, trailer: str) -> str | None:
        """The newest commit of the remote branch whose message has the line ``trailer``."""
        if self.remote_head() is None:
            return None
        pattern = "^" + _escape(trailer) + "$"
        out = self._run(["log", "--format=%H", f"--grep={pattern}", f"origin/{self.branch}", "--"])
        return out.split()[0] if out.strip() else None

    def show(self, revision: str, file: str) -> str:
        """``file`` at ``revision`` ("" when it did not exist there)."""
        try:
            return self._run(["show", f"{revision}:{file}"])
        except GitError:
            return ""

    def message(self, revision: str) -> str:
        return self._run(["log", "-1", "--format=%B", revision])

    def author(self, revision: str) -> str:
        return self._run(["log", "-1", "--format=%an <%ae>|%cn <%ce>", revision]).strip()


def init_bare(path: Path, *, branch: str = "main") -> None:
    """A bare repository at ``path`` (one there is kept): a local GitOps remote, as the demo's."""
    if (path / "HEAD").is_file():
        return
    path.mkdir(parents=True, exist_ok=True)
    init = ["init", "--quiet", "--bare", f"--initial-branch={branch}", str(path.resolve())]
    WorkingCopy(path, remote="", branch=branch)._run(init, cwd=path)


def _escape(text: str) -> str:
    """``text`` as a literal in git's basic regular expressions."""
    return "".join(f"\\{c}" if c in ".[]*^$\\" else c for c in text)


@dataclass(frozen=True, slots=True)
class LoggedCommit:
    sha: str
    committed_at: datetime  # the committer time, aware UTC


def check_log_revision(revision: str) -> str:
    if not _REVISION.match(revision) or ".." in revision:
        raise GitError(f"not a revision git is given: {revision!r}")
    return revision


def commits_between(
    repository: Path, *, revision: str, since: str | None, limit: int
) -> tuple[LoggedCommit, ...]:
    """The commits reachable from ``revision`` but not from ``since`` (only ``revision`` itself when
    ``since`` is None), newest first, at most ``limit``."""
    count = 1 if since is None else limit
    args = ["rev-list", f"--max-count={count}", "--format=%H %ct", check_log_revision(revision)]
    if since is not None:
        args.append("^" + check_log_revision(since))
    output = _read(repository, [*args, "--"])
    commits = []
    for line in output.splitlines():
        if line.startswith("commit "):
            continue
        sha, _, stamp = line.partition(" ")
        commits.append(LoggedCommit(sha=sha, committed_at=datetime.fromtimestamp(int(stamp), UTC)))
    return tuple(commits)


def resolve(repository: Path, revision: str) -> str:
    """The full object name of a commit (``main``, a short sha, ``main@sha1:…`` already split)."""
    return _read(
        repository, ["rev-parse", "--verify", "--quiet", check_log_revision(revision) + "^{commit}"]
    ).strip()


def _read(repository: Path, args: list[str]) -> str:
    command = ["git", "-C", str(repository), "-c", "core.quotepath=off", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=LOG_TIMEOUT, check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} in {repository} took over {LOG_TIMEOUT:.0f} s") from exc
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        raise GitError(f"git {args[0]} in {repository}: {reason}")
    return done.stdout


def check_revision(revision: str) -> str:
    """``revision`` when git can only read it as a revision (never as an option), else UsageError."""
    if not revision or revision.startswith("-") or any(ch.isspace() or ch == "\x00" for ch in revision):
        raise UsageError(f"--revision {revision!r}: expected a branch, tag or commit")
    return revision


def export_revision(*, repo: str, revision: str, into: Path, git: str = "git") -> Path:
    """The tree of ``repo`` (a local path or a URL git can clone) at ``revision``, unpacked below ``into``.

    A local repository is read where it is (``git archive``); anything else is cloned bare into a
    temporary directory first. The archive is unpacked with tarfile's ``data`` filter: no links out of
    ``into``, no device files, no absolute paths; more than ``MAX_EXPORT_BYTES`` is refused.
    """
    check_revision(revision)
    executable = shutil.which(git)
    if executable is None:
        raise GitError(f"{git!r} was not found on PATH; it reads the desired state from Git")
    with tempfile.TemporaryDirectory(prefix="leitplanke-git-") as scratch:
        source = repo
        if not _is_local_repository(repo):
            source = os.path.join(scratch, "clone.git")
            _export([executable, "clone", "--quiet", "--bare", "--", repo, source], what=f"git clone {repo}")
        archive = os.path.join(scratch, "tree.tar")
        with open(archive, "wb") as stream:
            _export(
                [executable, "-C", source, "archive", "--format=tar", f"{revision}^{{tree}}"],
                what=f"git archive {revision}",
                stdout=stream,
            )
        _unpack(archive, into)
    return into


def _is_local_repository(repo: str) -> bool:
    return "://" not in repo and not repo.startswith("git@") and os.path.isdir(repo)


def _export(args: list[str], *, what: str, stdout: int | IO[Any] = subprocess.PIPE) -> None:
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password on a terminal
    try:
        completed = subprocess.run(
            args, stdout=stdout, stderr=subprocess.PIPE, timeout=EXPORT_TIMEOUT, check=False, env=environment
        )
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"{what} did not finish within {EXPORT_TIMEOUT:g} s") from exc
    except OSError as exc:
        raise GitError(f"{what}: git could not be run: {exc.strerror or exc}") from exc
    if completed.returncode != 0:
        stderr = completed.stderr.decode("utf-8", "replace").strip()[-_STDERR_CHARS:]
        raise GitError(f"{what} exited with {completed.returncode}: {stderr}")


def _unpack(archive: str, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        if sum(member.size for member in members) > MAX_EXPORT_BYTES:
            raise GitError(f"the tree is larger than {MAX_EXPORT_BYTES} bytes unpacked")
        try:
            tar.extractall(into, members=members, filter="data")
        except tarfile.FilterError as exc:
            raise GitError(f"the tree holds a path that leaves its directory: {exc}") from exc
