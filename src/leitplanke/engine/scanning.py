"""Scanning: many sources through a compiled set, in forked workers, into a sink.

The caller injects ``load`` (source → documents, problems, skipped inputs), so the same
pipeline serves files, Helm, Kustomize and stdin, and a ``sinks.Sink`` that receives the
results. Workers evaluate each document, apply waivers, put each source's results in report
order and ``prepare`` them for the sink, and spill the documents set-level rules need to a
scratch folder (``spilling``); set-level rules run at the end, a namespace at a time, and
their results reach the sink the same way (``collecting``). The main process holds counts and
what the sink keeps (``Spooled``: 40 bytes a document), no document.
Called through ``leitplanke.engine.scan``.
"""

from __future__ import annotations

import functools
import gc
import os
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from leitplanke.core.documents import Document, SkippedInput
from leitplanke.core.problems import Level, Problem
from leitplanke.core.results import Result, ScanReport, Verdict
from leitplanke.core.waivers import Waiver
from leitplanke.engine import collecting, contexts, evaluating, forking, sinks, spilling
from leitplanke.engine.compiling import CompiledSet

S = TypeVar("S")
# a scan worker that grew by this much is replaced by a fresh fork (``forking``): at 1.4 kB a
# document kept by the CEL runtime, every ~45,000 documents; a fresh worker reads the compiled
# programs it uses back again, so not much more often
WORKER_GROWTH_MB = 64
Loaded = Document | Problem | SkippedInput
Loader = Callable[[S], Iterable[Loaded]]


@dataclass(slots=True)
class Batch:
    """What one source produced, small enough to send between processes."""

    piece: Any = None  # the source's results, as the sink prepared them
    problems: list[Problem] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)
    documents: int = 0
    evaluations: int = 0
    # where the documents set-level rules need were spilled, and how many by namespace
    partitions: set[str] = field(default_factory=set)
    namespaces: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Job(Generic[S]):
    """Everything a worker needs for a source; reaches the workers through fork."""

    compiled: CompiledSet
    load: Loader[S]
    sink: sinks.Sink
    keeping: collecting.Keeping
    spill: spilling.Spill
    waivers: tuple[Waiver, ...] = ()  # the active ones
    context: contexts.Context = contexts.NO_REQUEST
    # per namespace of the scanned set: ``context`` with that Namespace as its namespace_object
    in_namespace: Mapping[str, contexts.Context] = field(default_factory=dict)

    def context_for(self, doc: Document) -> contexts.Context:
        """The context of ``doc``: the scan's, with the document's Namespace if the scan has it."""
        if not self.in_namespace:
            return self.context
        return self.in_namespace.get(doc.namespace, self.context)


def scan(
    compiled: CompiledSet,
    sources: Sequence[S],
    sink: sinks.Sink,
    *,
    load: Loader[S],
    now: datetime,
    waivers: Sequence[Waiver] = (),
    jobs: int = 0,
    on_progress: Callable[[int], None] | None = None,
    context: contexts.Context = contexts.NO_REQUEST,
    namespaces: Mapping[str, Mapping[str, Any]] | None = None,
) -> sinks.Scanned:
    """Evaluate every document of every source into ``sink``; ``jobs=0``: a worker per core.

    ``namespaces``: the Namespace objects of the scanned set by name; a document in one of them
    is evaluated with it as ``namespaceObject`` (unless ``context`` names one already).
    """
    collecting_garbage = gc.isenabled()
    gc.disable()  # hundreds of thousands of acyclic results: the collector would rescan them over and over
    try:
        return _scan(
            compiled,
            sources,
            sink,
            load=load,
            now=now,
            waivers=waivers,
            jobs=jobs or os.cpu_count() or 1,
            on_progress=on_progress,
            context=context,
            namespaces=namespaces or {},
        )
    finally:
        if collecting_garbage:
            gc.enable()


def _scan(
    compiled: CompiledSet,
    sources: Sequence[S],
    sink: sinks.Sink,
    *,
    load: Loader[S],
    now: datetime,
    waivers: Sequence[Waiver],
    jobs: int,
    on_progress: Callable[[int], None] | None,
    context: contexts.Context,
    namespaces: Mapping[str, Mapping[str, Any]],
) -> sinks.Scanned:
    active = tuple(w for w in waivers if not w.is_expired(now))
    in_namespace = (
        {}
        if context.namespace_object is not None
        else {name: replace(context, namespace_object=body) for name, body in namespaces.items()}
    )
    with tempfile.TemporaryDirectory(prefix="leitplanke-kept-") as scratch:
        job = Job(
            compiled=compiled,
            load=load,
            sink=sink,
            keeping=collecting.keeping(compiled),
            spill=spilling.spill(compiled, scratch),
            waivers=active,
            context=context,
            in_namespace=in_namespace,
        )
        scanned = _scanned(job, sources, jobs=jobs, on_progress=on_progress)
    scanned.problems.extend(_expired(waivers, now=now))
    sink.close()
    return scanned


def _scanned(
    job: Job[S], sources: Sequence[S], *, jobs: int, on_progress: Callable[[int], None] | None
) -> sinks.Scanned:
    """Every source through ``job`` into its sink, then the set-level rules."""
    sink = job.sink
    scanned = sinks.Scanned(policies=len(job.compiled.policies))
    spilled = spilling.Spilled()
    work = functools.partial(process_source, job)
    batches = (
        map(work, sources)
        if jobs <= 1 or len(sources) < 2
        else forking.forked_map(work, sources, processes=jobs, retire_mb=WORKER_GROWTH_MB)
    )
    for batch in batches:
        sink.accept(batch.piece)
        scanned.problems.extend(batch.problems)
        scanned.skipped.extend(batch.skipped)
        scanned.documents += batch.documents
        scanned.evaluations += batch.evaluations
        spilled.update(batch.partitions, batch.namespaces)
        if on_progress is not None:
            on_progress(1)
    set_level = collecting.evaluate_set_level(
        job.compiled,
        spilled.tasks(job.spill),
        job.spill.read,
        namespaced=not job.spill.whole,
        jobs=jobs if spilled.count >= 200 else 1,  # a few documents: not worth a fork
        finish=functools.partial(_prepared, job),
    )
    for piece, evaluations in set_level:
        sink.accept_set(piece)
        scanned.evaluations += evaluations
    return scanned


def _prepared(job: Job[S], results: list[Result]) -> Any:
    """Set-level results waived, in report order and prepared for the sink, where they were made."""
    waive(results, job.waivers)
    results.sort(key=Result.sort_key)
    return job.sink.prepare(results)


def process_source(job: Job[S], source: S) -> Batch:
    """One source's documents evaluated, waived and in report order, prepared for the sink."""
    batch = Batch()
    results: list[Result] = []
    kept: list[collecting.Kept] = []
    gc_was_enabled = gc.isenabled()
    gc.disable()  # documents are acyclic trees; the collector only costs time here
    try:
        for item in job.load(source):
            if isinstance(item, Document):
                batch.documents += 1
                outcome = evaluate_document(job.compiled, item, context=job.context_for(item))
                results.extend(outcome.results)
                batch.evaluations += outcome.evaluations
                keeps = job.keeping.keeps(item, outcome.subject)
                if keeps is not None:
                    kept.append(keeps)
                    batch.namespaces[keeps.namespace] += 1
            elif isinstance(item, Problem):
                batch.problems.append(item)
            else:
                batch.skipped.append(item)
        waive(results, job.waivers)
        results.sort(key=Result.sort_key)  # here, in parallel: the main process only joins
        batch.piece = job.sink.prepare(results)
        batch.partitions = job.spill.write(kept) if kept else set()
    finally:
        if gc_was_enabled:
            gc.enable()
    return batch


def evaluate_document(
    compiled: CompiledSet, doc: Document, *, context: contexts.Context
) -> evaluating.Outcome:
    """``evaluating.evaluate_document`` with the request around ``doc``."""
    return evaluating.evaluate_document(compiled, doc, context=context)


def apply_waivers(report: ScanReport, waivers: Sequence[Waiver], *, now: datetime) -> None:
    """Waived failures become ``skip`` naming the waiver; expired waivers only warn."""
    report.problems.extend(_expired(waivers, now=now))
    waive(report.results, [w for w in waivers if not w.is_expired(now)])


def _expired(waivers: Sequence[Waiver], *, now: datetime) -> list[Problem]:
    return [
        Problem(
            waiver.source.file,
            waiver.source.line,
            "waiver-expired",
            f"waiver {waiver.name!r} expired on {waiver.expiry_text} and suppresses nothing",
            level=Level.WARNING,
        )
        for waiver in waivers
        if waiver.is_expired(now)
    ]


def waive(results: list[Result], active: Sequence[Waiver]) -> None:
    """Replace each failure or warning an active waiver covers by its ``skip`` (in place)."""
    if not active:
        return
    for index, result in enumerate(results):
        if result.verdict is not Verdict.FAIL and result.verdict is not Verdict.WARN:
            continue
        for waiver in active:
            if waiver.covers(policy=result.policy, rule=result.rule, resource=result.resource):
                results[index] = _waived(result, waiver)
                break


def _waived(result: Result, waiver: Waiver) -> Result:
    return replace(
        result,
        verdict=Verdict.SKIP,
        waiver=waiver.name,
        message=f"{result.message} (waived by {waiver.name}: {waiver.reason})",
    )
