"""The ``git`` CLI behind one adapter: a revision of a repository exported into a directory.

``driftloading`` calls ``export_revision`` to read the desired state of a path at a revision; every
failure of git comes back as ``GitFailed`` with git's own words.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any

from leitplanke.core.problems import SourceError, UsageError

_STDERR_CHARS = 2000
MAX_EXPORT_BYTES = 512 * 1024 * 1024  # a repository's tree at one revision, unpacked
_TIMEOUT = 300.0


class GitFailed(SourceError):
    """git could not be run, or refused: an unknown revision, no repository there, a failed clone."""

    code = "git-failed"


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
        raise GitFailed(f"{git!r} was not found on PATH; it reads the desired state from Git")
    with tempfile.TemporaryDirectory(prefix="leitplanke-git-") as scratch:
        source = repo
        if not _is_local_repository(repo):
            source = os.path.join(scratch, "clone.git")
            _run([executable, "clone", "--quiet", "--bare", "--", repo, source], what=f"git clone {repo}")
        archive = os.path.join(scratch, "tree.tar")
        with open(archive, "wb") as stream:
            _run(
                [executable, "-C", source, "archive", "--format=tar", f"{revision}^{{tree}}"],
                what=f"git archive {revision}",
                stdout=stream,
            )
        _unpack(archive, into)
    return into


def _is_local_repository(repo: str) -> bool:
    return "://" not in repo and not repo.startswith("git@") and os.path.isdir(repo)


def _run(args: list[str], *, what: str, stdout: int | IO[Any] = subprocess.PIPE) -> None:
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for a password on a terminal
    try:
        completed = subprocess.run(
            args,
            stdout=stdout,
            stderr=subprocess.PIPE,
            timeout=_TIMEOUT,
            check=False,
            env=environment,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitFailed(f"{what} did not finish within {_TIMEOUT:g} s") from exc
    except OSError as exc:
        raise GitFailed(f"{what}: git could not be run: {exc.strerror or exc}") from exc
    if completed.returncode != 0:
        stderr = completed.stderr.decode("utf-8", "replace").strip()[-_STDERR_CHARS:]
        raise GitFailed(f"{what} exited with {completed.returncode}: {stderr}")


def _unpack(archive: str, into: Path) -> None:
    into.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        if sum(member.size for member in members) > MAX_EXPORT_BYTES:
            raise GitFailed(f"the tree is larger than {MAX_EXPORT_BYTES} bytes unpacked")
        try:
            tar.extractall(into, members=members, filter="data")
        except tarfile.FilterError as exc:
            raise GitFailed(f"the tree holds a path that leaves its directory: {exc}") from exc
