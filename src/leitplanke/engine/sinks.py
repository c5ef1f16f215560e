"""Sinks: where a scan streams its results, and the report every output format reads.

``scanning.scan`` hands each source's results to ``Sink.prepare`` in the worker that made
them and passes what that returns to ``Sink.accept`` in the main process; the results of
set-level rules, a namespace at a time, go through ``prepare`` the same way and then to
``Sink.accept_set``; ``Sink.close`` ends the scan. ``Sink.report`` is the one ``ScanReport``
the formats in ``leitplanke.reports`` render. New output formats read a report or are a sink
of their own.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

from leitplanke.core.documents import SkippedInput
from leitplanke.core.problems import Problem
from leitplanke.core.results import Rendered, Result, ScanReport, Segment, Tally, Verdict, tally


@dataclass(slots=True)
class Scanned:
    """What every scan says besides its results (which went to the sink): one shape for all."""

    policies: int = 0
    documents: int = 0
    evaluations: int = 0
    problems: list[Problem] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)


class Sink(Protocol):
    """Receives a scan's results; ``prepare`` runs in worker processes, the rest in the caller's."""

    def prepare(self, results: list[Result]) -> Any:
        """One source's results (waived, in report order) as what ``accept`` takes: picklable."""
        ...

    def accept(self, piece: Any) -> None:
        """What ``prepare`` made, for the sources in the order the workers finish them."""
        ...

    def accept_set(self, piece: Any) -> None:
        """What ``prepare`` made of set-level results (of a namespace, or of the whole scan):
        every set-level result of a document is in one piece."""
        ...

    def close(self) -> None:
        """Nothing follows."""
        ...

    def report(self, scanned: Scanned) -> ScanReport:
        """The report of the scan, in report order, for ``leitplanke.reports``."""
        ...


class Collected:
    """Every result as an object, in report order (``results``), once the scan is over."""

    def __init__(self) -> None:
        self.results: list[Result] = []
        self.dropped: Tally = Counter()  # results counted, not kept (see ``Findings``)
        self._chunks: list[list[Result]] = []
        self._set_results: list[Result] = []

    def keep(self, results: list[Result]) -> list[Result]:
        """The results this sink keeps; ``Findings`` counts passes instead."""
        return results

    def prepare(self, results: list[Result]) -> Any:
        dropped: Tally = Counter()
        kept = self.keep(results) if results else results
        if len(kept) != len(results):
            dropped = tally(result for result in results if result.verdict is Verdict.PASS)
        return kept, dropped

    def accept(self, piece: Any) -> None:
        kept, dropped = piece
        self._chunks.append(kept)
        self.dropped.update(dropped)

    def accept_set(self, piece: Any) -> None:
        kept, dropped = piece
        self._set_results.extend(kept)
        self.dropped.update(dropped)

    def close(self) -> None:
        self.results = in_report_order(self._chunks, self._set_results)
        self._chunks, self._set_results = [], []

    def report(self, scanned: Scanned) -> ScanReport:
        report = _report(scanned)
        report.results = self.results
        report.dropped = Counter(self.dropped)
        return report.finish(in_order=True)


class Findings(Collected):
    """Failures, warnings, errors and skips kept; passes only counted (``dropped``): a report of
    findings never holds the hundreds of thousands of passes of a large scan."""

    def keep(self, results: list[Result]) -> list[Result]:
        return [result for result in results if result.verdict is not Verdict.PASS]


# Renders results (of one document, in report order) as report text; see ``Spooled``.
Renderer = Callable[[Sequence[Result]], str]


class Spooled:
    """Results rendered to text where they are made (in the workers), into spool files.

    A large scan produces hundreds of thousands of results: rendering them in the workers
    spreads the work and keeps them out of the caller's memory. ``spool`` is a directory that
    outlives the report; set-level results are rendered the same way, where a namespace's
    set-level rules run, so the caller holds no result at all.
    """

    def __init__(self, render: Renderer, *, spool: str) -> None:
        self.render = render
        self.spool = spool
        self.rendered = Rendered()
        self.results: list[Result] = []
        self._streams: dict[int, BinaryIO] = {}  # this sink's spool file, per process

    def prepare(self, results: list[Result]) -> Any:
        # a worker whose sources gave no results opens no spool file
        segments = _spooled(results, self.render, self._stream()) if results else []
        return segments, tally(results)

    def accept(self, piece: Any) -> None:
        segments, counted = piece
        for segment in segments:
            self.rendered.add(segment)
        self.rendered.tally.update(counted)

    def accept_set(self, piece: Any) -> None:
        self.accept(piece)  # added after every document's own: a stable sort keeps them after

    def close(self) -> None:
        own = self._streams.pop(os.getpid(), None)  # written here when the scan had no workers
        if own is not None:
            own.close()
        self.rendered.sort()

    def report(self, scanned: Scanned) -> ScanReport:
        report = _report(scanned)
        report.results = self.results
        report.rendered = self.rendered
        return report.finish(in_order=True)

    def _stream(self) -> BinaryIO:
        pid = os.getpid()
        stream = self._streams.get(pid)
        if stream is None:
            stream = self._streams[pid] = open(os.path.join(self.spool, f"{pid}.txt"), "ab")  # noqa: SIM115
        return stream


def _spooled(results: list[Result], render: Renderer, stream: BinaryIO) -> list[Segment]:
    """Render ``results`` (in report order) a document at a time into ``stream``."""
    segments: list[Segment] = []
    offset = stream.tell()
    for (file, index), group in itertools.groupby(results, key=lambda r: (r.location.file, r.location.index)):
        data = render(list(group)).encode("utf-8")
        stream.write(data)
        segments.append(Segment(file, index, str(stream.name), offset, len(data)))
        offset += len(data)
    stream.flush()  # the main process reads it once the scan is over
    return segments


def _report(scanned: Scanned) -> ScanReport:
    return ScanReport(
        problems=list(scanned.problems),
        skipped=list(scanned.skipped),
        documents=scanned.documents,
        evaluations=scanned.evaluations,
        policies=scanned.policies,
    )


def in_report_order(chunks: list[list[Result]], set_results: list[Result]) -> list[Result]:
    """Every result in report order: by file and document; in a document, its own rules'
    results in ``Result.sort_key`` order, then those of set-level rules, in that order too.

    Each chunk (a source's results) is in order already, so this only joins them; sources
    that share a file (rare: a chart rendering a path another source names) are sorted again.
    """
    chunks = sorted((chunk for chunk in chunks if chunk), key=lambda chunk: chunk[0].sort_key())
    joined = all(a[-1].sort_key() <= b[0].sort_key() for a, b in itertools.pairwise(chunks))
    per_document = list(itertools.chain.from_iterable(chunks))
    if not joined:
        per_document.sort(key=Result.sort_key)
    set_results = sorted(set_results, key=Result.sort_key)
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
