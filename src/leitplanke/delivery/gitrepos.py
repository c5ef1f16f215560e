"""The ``git`` CLI behind a small class: clone, read, commit, push and find commits of one working copy.

The only module that runs ``git``; its failures come out as ``GitError`` (code ``git``) with git's
own words. Nothing from the user's or the system's git configuration is read. Called by ``gitops``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leitplanke.core.problems import LeitplankeError

TIMEOUT = 120.0  # seconds for one git command (a clone or push over the network)
COMMITTER = ("leitplanke", "leitplanke@leitplanke.invalid")


class GitError(LeitplankeError):
    """A git command failed: the repository cannot be reached, a push was refused, …"""

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

    def commit_file(self, file: str, content: str, *, author: Person, message: str) -> str:
        """Write (or, for empty content, remove) ``file`` and commit it as ``author``, committed and
        signed off by leitplanke; the new commit's sha."""
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
