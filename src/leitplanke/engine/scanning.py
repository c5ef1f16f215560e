"""Scanning: many inputs through the compiled policies, in parallel, into one ScanReport.

The caller injects ``load`` (source → documents, problems, skipped inputs), so
the same pipeline serves files, Helm, Kustomize and stdin. Per-document rules run in
worker processes (fork), which also apply waivers, sort each source's results and, when
asked, render them into spool files; set-level rules run at the end, a namespace at a
time, in forked workers too. The main process joins what they send.
"""

from __future__ import annotations

import gc
import itertools
import marshal
import multiprocessing
import os
import pickle
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, BinaryIO, Generic, TypeVar

from leitplanke.core.documents import Document, SkippedInput
from leitplanke.core.problems import Level, Problem
from leitplanke.core.results import Rendered, Result, ScanReport, Segment, Tally, Verdict, tally
from leitplanke.core.waivers import Waiver
from leitplanke.engine import cel, compiling, evaluating, matching
from leitplanke.engine.compiling import CompiledPolicy, CompiledRule, CompiledSet

S = TypeVar("S")
Loaded = Document | Problem | SkippedInput
Loader = Callable[[S], Iterable[Loaded]]


@dataclass(slots=True)
class Batch:
    """What one source produced, small enough to send between processes."""

    results: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)
    documents: int = 0
    evaluations: int = 0
    kept: list[Kept] = field(default_factory=list)  # for set-level rules
    segments: list[Segment] = field(default_factory=list)  # with a renderer: results as text
    tally: Tally = field(default_factory=Counter)
    dropped: Tally = field(default_factory=Counter)  # passes counted, not kept


# Renders results (sorted, of one document) as report text; see ``scan(render=...)``.
Renderer = Callable[[Sequence[Result]], str]


@dataclass(frozen=True, slots=True)
class _Job(Generic[S]):
    compiled: CompiledSet
    load: Loader[S]
    keep_kinds: frozenset[str]
    keep_paths: Mapping[str, tuple[str, ...]]  # by subject kind ("*": any): lines set-level results need
    waivers: tuple[Waiver, ...] = ()  # the active ones
    render: Renderer | None = None
    spool: str = ""
    keep_passes: bool = True


def scan(
    sources: Sequence[S],
    *,
    compiled: CompiledSet,
    load: Loader[S],
    waivers: Sequence[Waiver] = (),
    now: datetime,
    jobs: int = 0,
    on_progress: Callable[[int], None] | None = None,
    render: Renderer | None = None,
    spool: str = "",
    keep_passes: bool = True,
) -> ScanReport:
    """Evaluate every document of every source; ``jobs=0`` means one worker per core.

    Without ``keep_passes`` passing results are only counted (``ScanReport.dropped``): a report
    of findings then never holds the hundreds of thousands of passes of a large scan.

    With ``render`` (and ``spool``, a directory that outlives the report), workers render the
    results of per-document rules themselves into spool files: the report's ``rendered``.
    """
    collecting = gc.isenabled()
    gc.disable()  # hundreds of thousands of acyclic results: the collector would rescan them over and over
    try:
        return _scan(
            sources,
            compiled=compiled,
            load=load,
            waivers=waivers,
            now=now,
            jobs=jobs,
            on_progress=on_progress,
            render=render,
            spool=spool,
            keep_passes=keep_passes,
        )
    finally:
        if collecting:
            gc.enable()


def _scan(
    sources: Sequence[S],
    *,
    compiled: CompiledSet,
    load: Loader[S],
    waivers: Sequence[Waiver],
    now: datetime,
    jobs: int,
    on_progress: Callable[[int], None] | None,
    render: Renderer | None,
    spool: str,
    keep_passes: bool,
) -> ScanReport:
    set_policies = compiled.set_level
    keep = set(compiled.collect_kinds)
    for policy in set_policies:
        keep.update(policy.policy.match.kinds or ("*",))
    # only a set-level rule's subjects get results: a kept document needs the lines of the
    # rules of the policies that match its kind, not of every set-level rule
    keep_paths: dict[str, tuple[str, ...]] = {}
    for policy in set_policies:
        paths = tuple(r.rule.path for r in policy.rules if r.rule.path)
        for kind in policy.policy.match.kinds or ("*",):
            keep_paths[kind] = keep_paths.get(kind, ()) + paths
    active = tuple(w for w in waivers if not w.is_expired(now))
    job = _Job(
        compiled=compiled,
        load=load,
        keep_kinds=frozenset(keep),
        keep_paths=keep_paths,
        waivers=active,
        render=render,
        spool=spool,
        keep_passes=keep_passes,
    )
    report = ScanReport(policies=len(compiled.policies))
    if render is not None:
        report.rendered = Rendered()
    kept: list[Kept] = []
    chunks: list[list[Result]] = []
    for batch in _run(job, sources, jobs=jobs or os.cpu_count() or 1):
        chunks.append(batch.results)
        report.dropped.update(batch.dropped)
        if report.rendered is not None:
            report.rendered.segments.extend(batch.segments)
            report.rendered.tally.update(batch.tally)
        report.problems.extend(batch.problems)
        report.skipped.extend(batch.skipped)
        report.documents += batch.documents
        report.evaluations += batch.evaluations
        kept.extend(batch.kept)
        if on_progress is not None:
            on_progress(1)
    own = _spools.pop(spool, None)  # written by this process when it scanned without workers
    if own is not None:
        own.close()
    kept.sort(key=lambda k: (k.doc.origin.file, k.doc.origin.index))
    set_results: list[Result] = []
    for results, evaluations in _run_set_level(compiled, kept, jobs=jobs or os.cpu_count() or 1):
        set_results.extend(results)
        report.evaluations += evaluations
    report.problems.extend(_expired(waivers, now=now))
    waive(set_results, active)
    if not keep_passes:
        set_results = _without_passes(set_results, report.dropped)
    if report.rendered is not None:
        report.rendered.segments.sort(key=lambda segment: (segment.file, segment.index))
        report.results = set_results
        return report.finish()
    report.results = _in_report_order(chunks, set_results)
    return report.finish(in_order=True)


def _in_report_order(chunks: list[list[Result]], set_results: list[Result]) -> list[Result]:
    """Every result in report order: by file and document; in a document, its own rules'
    results in ``Result.sort_key`` order, then those of set-level rules, in that order too.

    Workers sort each source's results, so this only joins them; sources that share a file
    (rare: a chart rendering a path another source names) are sorted again as a whole.
    """
    chunks = sorted((chunk for chunk in chunks if chunk), key=lambda chunk: chunk[0].sort_key())
    joined = all(a[-1].sort_key() <= b[0].sort_key() for a, b in itertools.pairwise(chunks))
    per_document = list(itertools.chain.from_iterable(chunks))
    if not joined:
        per_document.sort(key=Result.sort_key)
    set_results.sort(key=Result.sort_key)
    pending: dict[tuple[str, int], list[Result]] = {}
    for result in set_results:
        pending.setdefault((result.location.file, result.location.index), []).append(result)
    documents = sorted(pending)
    out: list[Result] = []
    next_document = 0
    file, index = "", -1
    for result in per_document:
        location = result.location
        if location.index != index or location.file != file:
            file, index = location.file, location.index
            # set-level results of the documents before this one (the previous one included)
            while next_document < len(documents) and documents[next_document] < (file, index):
                out.extend(pending[documents[next_document]])
                next_document += 1
        out.append(result)
    for document in documents[next_document:]:
        out.extend(pending[document])
    return out


_worker_job: _Job[Any] | None = None


def _init_worker(job: _Job[Any]) -> None:
    global _worker_job  # the job of this worker process, set once by the pool initializer
    _worker_job = job


def _work(source: Any) -> Batch:
    assert _worker_job is not None
    return process_source(_worker_job, source)


_set_state: tuple[CompiledSet, list[_SetGroup]] | None = None


def _init_set_worker(compiled: CompiledSet, groups: list[_SetGroup]) -> None:
    global _set_state  # this worker's inputs, inherited through fork, never pickled
    _set_state = (compiled, groups)


def _set_work(index: int) -> tuple[list[Result], int]:
    assert _set_state is not None
    compiled, groups = _set_state
    return _evaluate_group(compiled, groups[index])


def _run_set_level(
    compiled: CompiledSet, kept: list[Kept], *, jobs: int
) -> Iterator[tuple[list[Result], int]]:
    """Set-level rules, one task per group (namespace); forked workers share the groups."""
    errors: list[Result] = []
    groups = _set_groups(compiled, kept, errors)
    yield errors, 0
    if jobs <= 1 or len(groups) < 2 or len(kept) < 200:
        for group in groups:
            yield _evaluate_group(compiled, group)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(
        min(jobs, len(groups)), initializer=_init_set_worker, initargs=(compiled, groups)
    ) as pool:
        # the largest groups first, so that no worker is left with one at the end
        largest_first = sorted(range(len(groups)), key=lambda i: -len(groups[i].tasks))
        yield from pool.imap_unordered(_set_work, largest_first, chunksize=1)


def _run(job: _Job[S], sources: Sequence[S], *, jobs: int) -> Iterator[Batch]:
    if jobs <= 1 or len(sources) < 2:
        for source in sources:
            yield process_source(job, source)
        return
    context = multiprocessing.get_context("fork")
    with context.Pool(min(jobs, len(sources)), initializer=_init_worker, initargs=(job,)) as pool:
        yield from pool.imap_unordered(_work, sources, chunksize=1)


def process_source(job: _Job[S], source: S) -> Batch:
    batch = Batch()
    gc_was_enabled = gc.isenabled()
    gc.disable()  # documents are acyclic trees; the collector only costs time here
    try:
        for item in job.load(source):
            if isinstance(item, Document):
                batch.documents += 1
                outcome = evaluating.evaluate_document(job.compiled, item)
                batch.results.extend(outcome.results)
                batch.evaluations += outcome.evaluations
                if item.kind in job.keep_kinds or "*" in job.keep_kinds:
                    paths = job.keep_paths.get(item.kind, ()) + job.keep_paths.get("*", ())
                    batch.kept.append(_portable(item, paths, outcome.subject))
            elif isinstance(item, Problem):
                batch.problems.append(item)
            else:
                batch.skipped.append(item)
        waive(batch.results, job.waivers)
        if not job.keep_passes:
            batch.results = _without_passes(batch.results, batch.dropped)
        batch.results.sort(key=Result.sort_key)  # here, in parallel: the main process only joins
        if job.render is not None:
            batch.tally = tally(batch.results)
            batch.segments = _spooled(batch.results, job.render, job.spool)
            batch.results = []
    finally:
        if gc_was_enabled:
            gc.enable()
    return batch


def _without_passes(results: list[Result], dropped: Tally) -> list[Result]:
    """``results`` but its passes, which are counted in ``dropped``."""
    kept = [result for result in results if result.verdict is not Verdict.PASS]
    dropped.update(tally(result for result in results if result.verdict is Verdict.PASS))
    return kept


_spools: dict[str, BinaryIO] = {}  # this process's spool file, per spool directory


def _spooled(results: list[Result], render: Renderer, spool: str) -> list[Segment]:
    """Render ``results`` (sorted) a document at a time into this process's spool file."""
    stream = _spools.get(spool)
    if stream is None:
        stream = _spools[spool] = open(os.path.join(spool, f"{os.getpid()}.txt"), "ab")  # noqa: SIM115
    segments: list[Segment] = []
    offset = stream.tell()
    for (file, index), group in itertools.groupby(results, key=lambda r: (r.location.file, r.location.index)):
        data = render(list(group)).encode("utf-8")
        stream.write(data)
        segments.append(Segment(file, index, str(stream.name), offset, len(data)))
        offset += len(data)
    stream.flush()  # the main process reads it once the scan is over
    return segments


@dataclass(frozen=True, slots=True)
class Kept:
    """A document kept for set-level rules, small enough for the main process to hold many.

    ``doc`` has what matching and grouping read (apiVersion, kind, name, namespace, labels)
    and the lines set-level rules may report; the body travels and waits as bytes, and is
    read back where its group is evaluated.
    """

    doc: Document
    body: bytes
    kind: str = ""  # the document's, read once: grouping asks for them hundreds of thousands of times
    namespace: str = ""
    # where its set-level documents are: its name for a Namespace, its namespace otherwise
    home: str = ""

    def load(self, bodies: dict[int, Any] | None = None) -> Document:
        """The document with its body read back; ``bodies`` (by ``id`` of the ``Kept``) keeps
        bodies already read, so that a document several rules see is read back once."""
        body = None if bodies is None else bodies.get(id(self))
        if body is None:
            body = _thawed(self.body)
            if bodies is not None:
                bodies[id(self)] = body
        return Document(body=body, origin=self.doc.origin, domain=self.doc.domain)


def _portable(doc: Document, paths: Sequence[str], subject: evaluating.Subject | None = None) -> Kept:
    subject = subject or evaluating.build_subject(doc)
    resolved = [evaluating.resolve_path(path, subject, item_path="") for path in paths]
    metadata = doc.metadata
    identity = {
        "apiVersion": doc.body.get("apiVersion"),
        "kind": doc.body.get("kind"),
        "metadata": {key: metadata[key] for key in ("name", "namespace", "labels") if key in metadata},
    }
    kind, namespace = doc.kind, doc.namespace
    return Kept(
        Document(body=identity, origin=doc.origin.frozen(resolved), domain=doc.domain),
        _frozen(doc.body),
        kind,
        namespace,
        doc.name if kind == "Namespace" else namespace,
    )


def _frozen(body: Any) -> bytes:
    """A document body as bytes: marshal (faster both ways) for the plain values bodies hold,
    pickle for anything else; the first byte says which."""
    try:
        return b"m" + marshal.dumps(body)
    except ValueError:
        return b"p" + pickle.dumps(body, protocol=pickle.HIGHEST_PROTOCOL)


def _thawed(data: bytes) -> Any:
    return marshal.loads(data[1:]) if data[:1] == b"m" else pickle.loads(data[1:])


@dataclass(slots=True)
class _SetGroup:
    """Subjects that see the same documents (a namespace, or the whole scan), with those documents.

    One CEL activation per group holds every subject and every rule's documents, each
    converted once; a program picks its subject by the index ``leitplanke.subject()`` returns.
    """

    namespace: str = ""  # of every subject, for namespace-scoped rules
    subjects: list[Kept] = field(default_factory=list)
    collected: dict[str, list[Kept]] = field(default_factory=dict)  # collected_key -> documents
    tasks: list[tuple[CompiledPolicy, CompiledRule, int]] = field(default_factory=list)
    _index: dict[int, int] = field(default_factory=dict)

    def add(self, position: int, subject: Kept) -> int:
        index = self._index.get(position)
        if index is None:
            index = self._index[position] = len(self.subjects)
            self.subjects.append(subject)
        return index


def _set_groups(compiled: CompiledSet, kept: Sequence[Kept], out: list[Result]) -> list[_SetGroup]:
    """Every (rule, subject) of the set-level policies, grouped by the documents the subject sees.

    ``kept`` is in report order; a policy's failing match condition becomes an error result in ``out``.
    """
    groups: dict[tuple[bool, str], _SetGroup] = {}
    answers: dict[tuple[Any, int], bool] = {}
    by_kind: dict[str, list[tuple[int, Kept]]] = {}
    for position, k in enumerate(kept):
        by_kind.setdefault(k.kind, []).append((position, k))
    for policy in compiled.set_level:
        kinds = policy.policy.match.kinds
        candidates = (
            sorted(c for kind in kinds for c in by_kind.get(kind, ())) if kinds else list(enumerate(kept))
        )
        members = []
        for position, k in candidates:  # policies matching alike share one check per document
            answer = answers.get((policy.match_key, position))
            if answer is None:
                answer = answers[(policy.match_key, position)] = matching.matches(policy.policy.match, k.doc)
            if answer:
                members.append((position, k))
        if policy.condition is not None:
            members = [(i, k) for i, k in members if _condition_holds(compiled, policy, k, out)]
        for rule in policy.rules:
            if not rule.is_set_level:
                continue
            by_namespace = rule.rule.collect_scope == "namespace"
            documents = _rule_documents(rule, kept, by_namespace=by_namespace)
            key = compiling.collected_key(policy.id, rule.rule.index)
            for position, subject in members:
                namespace = subject.namespace if by_namespace else ""
                group = groups.get((by_namespace, namespace))
                if group is None:
                    group = groups[(by_namespace, namespace)] = _SetGroup(namespace=namespace)
                if key not in group.collected:
                    group.collected[key] = documents(namespace)
                group.tasks.append((policy, rule, group.add(position, subject)))
    return [groups[key] for key in sorted(groups)]


def _filtered(
    compiled: CompiledSet, group: _SetGroup, bodies: dict[int, Any]
) -> tuple[dict[str, list[Any]], dict[str, Any], dict[str, str]]:
    """Each rule's document bodies with its ``collectFilter`` applied and its
    ``collectVariables``, once for the whole group, and the message of each filter or
    variable that failed (its rule's subjects get an error result).

    ``bodies`` holds the group's documents, read back, by ``id`` of their ``Kept``: a document
    that is a subject and collected, or collected by several rules, is read back once.
    """
    collected = {key: [k.load(bodies).body for k in documents] for key, documents in group.collected.items()}
    variables: dict[str, Any] = {}
    failed: dict[str, str] = {}
    done: set[str] = set()
    environment = compiled.environment
    for policy, rule, _ in group.tasks:
        key = compiling.collected_key(policy.id, rule.rule.index)
        if key in done or (rule.set_filter is None and rule.set_variables is None):
            continue
        done.add(key)
        candidates = collected[key]
        data = _set_bindings(compiled)
        data.update(lpCandidates=candidates, subjectNamespace=group.namespace)
        if rule.set_variables is not None:
            found = rule.set_variables.evaluate(environment.activation(data))
            if found.__class__ is cel.CelFailure:
                failed[key] = f"collectVariables failed: {found.message}"
                continue
            variables[key] = found
        if rule.set_filter is None:
            continue
        data.update(lpVariables={key: variables[key]} if key in variables else {})
        activation = environment.activation(data)
        kept: list[Any] = []
        for index, body in enumerate(candidates):
            environment.set_subject(index)
            holds = rule.set_filter.evaluate_bool(activation)
            if holds.__class__ is cel.CelFailure:
                failed[key] = f"collectFilter failed: {holds.message}"
                break
            if holds:
                kept.append(body)
        collected[key] = kept
    return collected, variables, failed


def _rule_documents(
    rule: CompiledRule, kept: Sequence[Kept], *, by_namespace: bool
) -> Callable[[str], list[Kept]]:
    """The documents a rule's subjects see, by namespace: its collected kinds, in report order.

    A Namespace object counts as in itself; kinds in ``collect_cluster`` are seen from
    every namespace, after the namespace's own documents.
    """
    collected = [k for k in kept if k.kind in rule.rule.collect]
    if not by_namespace:
        return lambda namespace: collected
    everywhere = rule.rule.collect_cluster
    shared = [k for k in collected if k.kind in everywhere]
    by_key: dict[str, list[Kept]] = {}
    for k in collected:
        if k.kind not in everywhere:
            by_key.setdefault(k.home, []).append(k)
    return lambda namespace: by_key.get(namespace, []) + shared


def _evaluate_group(compiled: CompiledSet, group: _SetGroup) -> tuple[list[Result], int]:
    bodies: dict[int, Any] = {}
    subjects = [evaluating.build_subject(k.load(bodies)) for k in group.subjects]
    collected, variables, failed = _filtered(compiled, group, bodies)
    data = _set_bindings(compiled)
    data.update(
        lpVariables=variables,
        lpObjects=[s.doc.body for s in subjects],
        lpPodSpecs=[s.pod_spec for s in subjects],
        lpPodMetas=[s.pod_meta for s in subjects],
        lpPodShapes=[s.pod_shape for s in subjects],
        lpCollected=collected,
    )
    environment = compiled.environment
    activation = environment.activation(data)
    out: list[Result] = []
    for policy, rule, index in group.tasks:
        assert rule.set_validate is not None
        subject = subjects[index]
        failure = failed.get(compiling.collected_key(policy.id, rule.rule.index))
        if failure is not None:
            out.append(_set_result(policy, rule, subject, cel.CelFailure(failure), ""))
            continue
        environment.set_subject(index)
        verdict = rule.set_validate.evaluate_bool(activation)
        text = policy.policy.title
        if verdict is False and rule.set_message is not None:
            text = _set_message(rule.set_message, activation, default=text)
        out.append(_set_result(policy, rule, subject, verdict, text))
    return out, len(group.tasks)


def _condition_holds(compiled: CompiledSet, policy: CompiledPolicy, kept: Kept, out: list[Result]) -> bool:
    """The policy's match condition for one subject; a failing condition is an error result."""
    assert policy.condition is not None
    subject = evaluating.build_subject(kept.load())
    data = _set_bindings(compiled)
    data.update(subject.bindings())
    holds = policy.condition.evaluate_bool(compiled.environment.activation(data))
    if isinstance(holds, cel.CelFailure):
        out.append(evaluating.error_result(policy, evaluating.MATCH_RULE, subject, holds.message, ""))
        return False
    return holds


def _set_message(program: cel.Program, activation: Any, *, default: str) -> str:
    text = program.evaluate(activation)
    if isinstance(text, cel.CelFailure):
        return f"{default} (message failed: {text.message})"
    return str(text)


def _set_bindings(compiled: CompiledSet) -> dict[str, Any]:
    return {
        "object": None,
        "oldObject": None,
        "request": None,
        "podSpec": None,
        "podMeta": None,
        "item": None,
        "params": {},
        "allParams": compiled.params,
        "documents": [],  # a set-level program binds its own (lpCollected)
        "subjects": [],
    }


def _set_result(
    policy: CompiledPolicy,
    rule: CompiledRule,
    subject: evaluating.Subject,
    verdict: bool | cel.CelFailure,
    message: str,
) -> Result:
    path = evaluating.resolve_path(rule.rule.path, subject, item_path="")
    if isinstance(verdict, cel.CelFailure):
        return evaluating.error_result(policy, rule.rule.name, subject, verdict.message, path)
    if verdict:
        return evaluating.make_result(policy, rule, subject, Verdict.PASS, "", path)
    return evaluating.failing_result(policy, rule, subject, message, path)


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
