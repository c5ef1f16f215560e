"""Loading both sides of a drift comparison: desired objects from a path of a Git revision, rendered as
``scan`` renders (plain manifests, Kustomize, Helm), and live objects from ``kubectl get -o yaml`` exports.

``leitplanke drift`` (``cli/drift``) calls ``load_desired`` and ``load_live``; problems come back as values.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from leitplanke.core.documents import Document, Origin
from leitplanke.core.problems import Problem, UsageError
from leitplanke.delivery import gitrepos
from leitplanke.sources import files


@dataclass(slots=True)
class Loaded:
    """The Kubernetes documents of one side, and what could not be read (with the file it is in)."""

    documents: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def check_path(path: str, *, option: str = "--path") -> str:
    """``path`` inside the repository as a relative POSIX path, or UsageError (absolute, or leaving it)."""
    pure = PurePosixPath(path.strip() or ".")
    if pure.is_absolute() or ".." in pure.parts:
        raise UsageError(f"{option} {path!r}: expected a path inside the repository, such as apps/shop/prod")
    return str(pure)


def load_desired(
    *,
    repo: str,
    revision: str,
    path: str,
    helm_values: Sequence[str] = (),
    helm_set: Sequence[str] = (),
) -> Loaded:
    """The objects ``path`` renders to at ``revision`` of ``repo`` (exported into a temporary directory that
    is gone on return); their origin files are named relative to the repository (``apps/shop/prod/web.yaml``).

    The whole tree is exported, not only ``path``: an overlay's bases and a chart's dependencies may lie
    outside it. Relative ``helm_values`` files are read from the repository at ``revision`` too."""
    inside = check_path(path)
    with tempfile.TemporaryDirectory(prefix="leitplanke-drift-") as scratch:
        tree = gitrepos.export_revision(repo=repo, revision=revision, into=Path(scratch) / "tree")
        root = tree / inside
        if not root.exists():
            raise UsageError(f"--path {path!r}: not in {repo} at {revision}")
        # values files named relatively are files of the repository, as Argo CD's valueFiles are
        values = [
            value if os.path.isabs(value) else str(tree / check_path(value, option="--values"))
            for value in helm_values
        ]
        loaded = _load([str(root)], helm_values=values, helm_set=helm_set)
        prefix = str(tree) + os.sep
        loaded.documents = [_relative(document, prefix) for document in loaded.documents]
        loaded.problems = [dataclasses.replace(p, file=p.file.removeprefix(prefix)) for p in loaded.problems]
    return loaded


def load_live(directory: str) -> Loaded:
    """The objects of a directory (or file) of ``kubectl get -o yaml`` exports: single objects and Lists."""
    if not os.path.exists(directory):
        raise UsageError(f"--live {directory!r}: no such file or directory")
    return _load([directory])


def _load(paths: list[str], *, helm_values: Sequence[str] = (), helm_set: Sequence[str] = ()) -> Loaded:
    loaded = Loaded()
    for source in files.iter_sources(paths):
        for item in files.load_source(source, helm_values=helm_values, helm_set=helm_set):
            if isinstance(item, Document):
                if item.domain == "kubernetes":
                    loaded.documents.append(item)
            elif isinstance(item, Problem):
                loaded.problems.append(item)
    return loaded


def _in_tree(tree: Path, path: str) -> str:
    return str(tree / check_path(path, option="--values"))


def _relative(document: Document, prefix: str) -> Document:
    origin = document.origin
    if not origin.file.startswith(prefix):
        return document
    # line lookups of the parse are not kept: a drift result points at the document's first line
    return dataclasses.replace(
        document, origin=Origin(origin.file.removeprefix(prefix), origin.index, origin.line)
    )
