"""Spilling: the documents set-level rules need, written to disk by the workers that read them.

A large scan keeps most of its documents for set-level rules (three in four of the bench
corpus); held in the main process they grew with the corpus (~2 kB each, 220 MB at 100,000
resources). Instead each scan worker appends what it keeps (``collecting.Kept``, pickled) to
files in a scratch folder, one per partition: a namespace, the documents every namespace
sees (the ``collectCluster`` kinds), or the whole scan when a rule collects over it. The
main process keeps only the names of the partitions and of the namespaces; the set-level
phase reads a namespace back (its own files and the shared ones), in report order, once.
Called by ``scanning`` and ``collecting``.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pickle
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from leitplanke.engine import collecting
from leitplanke.engine.compiling import CompiledSet

SHARED = "\x00shared"  # documents every namespace sees; no namespace has this name
WHOLE = "\x00whole"  # everything, when a set-level rule sees the whole scan


@dataclass(frozen=True, slots=True)
class Spill:
    """Where a scan's kept documents go, and which of them every namespace sees."""

    folder: str
    shared_kinds: frozenset[str]  # seen from every namespace (collectCluster)
    whole: bool  # a rule collects over the whole scan: a single partition

    def write(self, kept: Iterable[collecting.Kept]) -> set[str]:
        """Append ``kept`` (one source's) to the files of their partitions, in this process's
        own files (workers never share one); the partitions written."""
        by_partition: dict[str, list[collecting.Kept]] = {}
        for k in kept:
            for partition in self.partitions(k):
                by_partition.setdefault(partition, []).append(k)
        for partition, documents in by_partition.items():
            with open(self._file(partition, os.getpid()), "ab") as stream:
                pickle.dump(documents, stream, protocol=pickle.HIGHEST_PROTOCOL)
        return set(by_partition)

    def partitions(self, kept: collecting.Kept) -> tuple[str, ...]:
        """Where ``kept`` is read back from: a Namespace object is a subject of the cluster
        ("") and the home of its namespace's documents, so it is in both."""
        if self.whole:
            return (WHOLE,)
        if kept.kind in self.shared_kinds:
            return (SHARED,)
        if kept.home == kept.namespace:
            return (kept.namespace,)
        return (kept.namespace, kept.home)

    def read(self, partition: str) -> list[collecting.Kept]:
        """The documents of ``partition`` with the shared ones, in report order."""
        names = [partition] if self.whole else [partition, SHARED]
        documents = [k for name in names for k in self._read(name)]
        documents.sort(key=lambda k: (k.doc.origin.file, k.doc.origin.index))
        return documents

    def _read(self, partition: str) -> Iterator[collecting.Kept]:
        for path in sorted(glob.glob(self._file(partition, "*"))):
            with open(path, "rb") as stream:
                while True:
                    try:
                        yield from pickle.load(stream)  # written by this scan's own workers
                    except EOFError:
                        break

    def _file(self, partition: str, owner: int | str) -> str:
        # a namespace name from a document may hold anything: the file is named by its digest
        digest = hashlib.sha1(partition.encode("utf-8", "surrogatepass"), usedforsecurity=False)
        return os.path.join(self.folder, f"{owner}-{digest.hexdigest()[:20]}.kept")


def spill(compiled: CompiledSet, folder: str) -> Spill:
    """The spill of a scan of ``compiled`` into ``folder`` (the scan's scratch folder)."""
    rules = [r.rule for p in compiled.set_level for r in p.rules if r.is_set_level]
    return Spill(
        folder=folder,
        shared_kinds=frozenset(kind for rule in rules for kind in rule.collect_cluster),
        whole=any(rule.collect_scope != "namespace" for rule in rules),
    )


@dataclass(slots=True)
class Spilled:
    """What the main process knows of the spilled documents: names and counts, no documents."""

    partitions: set[str] = field(default_factory=set)
    # documents by namespace; a subject's namespace is one set-level task
    namespaces: Counter[str] = field(default_factory=Counter)

    def update(self, partitions: set[str], namespaces: Counter[str]) -> None:
        self.partitions |= partitions
        self.namespaces.update(namespaces)

    @property
    def count(self) -> int:
        return self.namespaces.total()

    def tasks(self, spill: Spill) -> list[str]:
        """The partitions the set-level phase reads, one per task, the largest first (so that
        no worker is left with a large one at the end)."""
        if spill.whole:
            return [WHOLE] if WHOLE in self.partitions else []
        return sorted(self.namespaces, key=lambda name: (-self.namespaces[name], name))
