"""Results of evaluating rules against documents, and the report of a whole scan.

Verdicts use the PolicyReport vocabulary: pass, fail, warn, error, skip.
"""

from __future__ import annotations

import enum
from array import array
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from leitplanke.core.documents import SkippedInput
from leitplanke.core.policies import BrokenPolicy, Severity
from leitplanke.core.problems import Problem


class Verdict(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    ERROR = "error"
    SKIP = "skip"


# Location and Result are not frozen: a frozen dataclass's __init__ costs three times as much,
# and a scan builds hundreds of thousands of them. Treat them as values all the same.
@dataclass(slots=True, unsafe_hash=True)
class Location:
    file: str
    line: int
    path: str = ""  # field path inside the document, e.g. spec.containers[0].securityContext
    index: int = 0  # document index within the file

    def __reduce__(self) -> tuple[type[Location], tuple[str, int, str, int]]:
        return (Location, (self.file, self.line, self.path, self.index))


@dataclass(frozen=True, slots=True)
class Resource:
    """The identity of the evaluated document, small enough to keep for every result."""

    api_version: str
    kind: str
    namespace: str
    name: str
    domain: str = "kubernetes"

    def __reduce__(self) -> tuple[type[Resource], tuple[str, str, str, str, str]]:
        return (Resource, (self.api_version, self.kind, self.namespace, self.name, self.domain))

    @property
    def display(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"


@dataclass(slots=True, unsafe_hash=True)
class Result:
    policy: str
    rule: str
    resource: Resource
    verdict: Verdict
    severity: Severity
    message: str
    location: Location
    # {"path": ..., "merge": ..., "remove": [...], "safe": bool, "description": str}
    fix: Mapping[str, Any] | None = None
    waiver: str = ""
    category: str = ""
    controls: tuple[str, ...] = ()
    # stable, for results that are not plain verdicts: why an error is one (cel-eval, cel-type,
    # foreach-not-list, foreign-eval), or message-failed on a failure; "" otherwise
    code: str = ""

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        # flat fields pickle several times faster than nested dataclasses and enums; scans
        # send hundreds of thousands of results from worker processes
        loc = self.location
        return (
            _rebuild_result,
            (
                self.policy,
                self.rule,
                self.resource,
                self.verdict.value,
                int(self.severity),
                self.message,
                loc.file,
                loc.line,
                loc.path,
                loc.index,
                self.fix,
                self.waiver,
                self.category,
                self.controls,
                self.code,
            ),
        )

    def sort_key(self) -> tuple[object, ...]:
        """Report order: place, then policy and rule, then whatever breaks the remaining ties."""
        loc, res = self.location, self.resource
        return (
            loc.file,
            loc.index,
            loc.line,
            self.policy,
            self.rule,
            loc.path,
            (res.domain, res.api_version, res.kind, res.namespace, res.name),
            str(self.verdict),
            self.message,
            self.waiver,
        )


_VERDICTS = {verdict.value: verdict for verdict in Verdict}
_SEVERITIES = {int(severity): severity for severity in Severity}


def _rebuild_result(
    policy: str,
    rule: str,
    resource: Resource,
    verdict: str,
    severity: int,
    message: str,
    file: str,
    line: int,
    path: str,
    index: int,
    fix: Mapping[str, Any] | None,
    waiver: str,
    category: str,
    controls: tuple[str, ...],
    code: str = "",
) -> Result:
    return Result(
        policy,
        rule,
        resource,
        _VERDICTS[verdict],
        _SEVERITIES[severity],
        message,
        Location(file, line, path, index),
        fix,
        waiver,
        category,
        controls,
        code,
    )


Tally = Counter[tuple[Verdict, Severity, bool]]  # (verdict, severity, waived) -> results


def tally(results: Iterable[Result]) -> Tally:
    return Counter((result.verdict, result.severity, result.waiver != "") for result in results)


@dataclass(frozen=True, slots=True)
class Segment:
    """The results of one document, already rendered by a worker into a spool file."""

    file: str  # the document: its file and index
    index: int
    spool: str  # where the text is: a file, a byte offset and a length in bytes
    offset: int
    length: int


class Rendered:
    """Results the workers rendered for the report format instead of sending them as objects.

    A large scan produces hundreds of thousands of results: rendering them where they are made
    spreads the work over the workers and keeps them out of the main process's memory. Where
    each document's text is, is kept in columns (``array``), not as a ``Segment`` each: 40
    bytes a document instead of ~300 (file and spool names are kept once).
    """

    __slots__ = ("_file", "_ids", "_index", "_length", "_names", "_offset", "_spool", "tally")

    def __init__(self, segments: Iterable[Segment] = ()) -> None:
        self.tally: Tally = Counter()
        self._names: list[str] = []  # file and spool names, each once
        self._ids: dict[str, int] = {}
        self._file, self._index, self._spool = array("q"), array("q"), array("q")
        self._offset, self._length = array("q"), array("q")
        for segment in segments:
            self.add(segment)

    def add(self, segment: Segment) -> None:
        self._file.append(self._id(segment.file))
        self._index.append(segment.index)
        self._spool.append(self._id(segment.spool))
        self._offset.append(segment.offset)
        self._length.append(segment.length)

    def sort(self) -> None:
        """Into (file, index) order; segments of the same document keep the order they came in."""
        ranks = {name: rank for rank, name in enumerate(sorted(self._names))}
        rank = [ranks[name] for name in self._names]
        # one int per segment as its key: a tuple each would cost 100 bytes more
        keys = [rank[f] << 40 | i for f, i in zip(self._file, self._index, strict=True)]
        order = sorted(range(len(keys)), key=keys.__getitem__)
        del keys
        for name in ("_file", "_index", "_spool", "_offset", "_length"):
            column = getattr(self, name)
            setattr(self, name, array("q", (column[position] for position in order)))

    def __len__(self) -> int:
        return len(self._file)

    def __iter__(self) -> Iterator[Segment]:
        names = self._names
        for file, index, spool, offset, length in zip(
            self._file, self._index, self._spool, self._offset, self._length, strict=True
        ):
            yield Segment(names[file], index, names[spool], offset, length)

    @property
    def segments(self) -> list[Segment]:
        """Every segment, in (file, index) order once ``sort`` ran."""
        return list(self)

    def _id(self, name: str) -> int:
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = len(self._names)
            self._names.append(name)
        return found


@dataclass(slots=True)
class ScanReport:
    """Everything a scan produced, in deterministic order once ``finish`` ran.

    With ``rendered``, the results of per-document rules are text in spool files (see
    ``Rendered``) and ``results`` holds only the rest (set-level rules); only the renderer
    that wrote them reads such a report. Counts cover both, through ``tally``.
    """

    results: list[Result] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)
    # policies that could not run (their problems are among ``problems`` too)
    broken: list[BrokenPolicy] = field(default_factory=list)
    documents: int = 0
    evaluations: int = 0
    policies: int = 0
    in_order: bool = False  # results sorted by ``Result.sort_key``, as ``finish`` leaves them
    rendered: Rendered | None = None
    # results counted but not kept: passes, when the report shows findings only
    dropped: Tally = field(default_factory=Counter)

    def finish(self, *, in_order: bool = False) -> ScanReport:
        """Sort everything into report order; ``in_order``: the results already are."""
        if not in_order:
            self.results.sort(key=Result.sort_key)
        self.in_order = True
        self.problems.sort()
        self.skipped.sort(key=lambda s: (s.file, s.index))
        return self

    def tally(self) -> Tally:
        """(verdict, severity, waived) -> number of results, rendered ones included."""
        counted = tally(self.results)
        if self.rendered is not None:
            counted.update(self.rendered.tally)
        counted.update(self.dropped)
        return counted

    def counts(self) -> dict[str, int]:
        counts = {verdict.value: 0 for verdict in Verdict}
        for (verdict, _, _), number in self.tally().items():
            counts[verdict.value] += number
        return counts

    def failing_count(self, threshold: Severity) -> int:
        """Failing results at or above ``threshold``."""
        return sum(
            number
            for (verdict, severity, _), number in self.tally().items()
            if verdict is Verdict.FAIL and severity >= threshold
        )
