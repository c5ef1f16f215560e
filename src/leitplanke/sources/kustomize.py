"""Rendering a Kustomize directory with ``kubectl kustomize`` and parsing what it prints.

``files`` calls ``load_kustomization`` for each directory that holds a kustomization file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

from leitplanke.core.problems import Problem
from leitplanke.sources import parsing

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_STDERR_CHARS = 2000


def kustomization_file(directory: str) -> str | None:
    """The kustomization file of ``directory``, or ``None`` when it is not a Kustomize directory."""
    for name in KUSTOMIZATION_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def load_kustomization(
    directory: str,
    *,
    limits: parsing.Limits = parsing.DEFAULT_LIMITS,
    kubectl: str = "kubectl",
    timeout: float = 120.0,
) -> Iterator[parsing.Output]:
    """The documents ``kubectl kustomize directory`` renders, or a ``kustomize-failed`` Problem.

    A document's origin file is the kustomization file; its index and lines are those of
    kubectl's rendered output, since a rendered object has no single source line.
    """
    file = kustomization_file(directory) or os.path.join(directory, KUSTOMIZATION_FILES[0])
    executable = shutil.which(kubectl)
    if executable is None:
        yield _failed(file, f"{kubectl!r} was not found on PATH; it renders Kustomize directories")
        return
    try:
        completed = subprocess.run(
            [executable, "kustomize", directory], capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        yield _failed(file, f"kubectl kustomize did not finish within {timeout:g} s")
        return
    except OSError as exc:
        yield _failed(file, f"kubectl could not be run: {exc.strerror or exc}")
        return
    if completed.returncode != 0:
        stderr = completed.stderr.decode("utf-8", "replace").strip()[-_STDERR_CHARS:]
        yield _failed(file, f"kubectl kustomize exited with {completed.returncode}: {stderr}")
        return
    yield from parsing.parse_documents(completed.stdout, file=file, limits=limits)


def _failed(file: str, message: str) -> Problem:
    return Problem(file, 0, "kustomize-failed", message)
