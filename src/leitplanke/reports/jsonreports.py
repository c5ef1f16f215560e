"""The machine-readable report, versioned as ``leitplanke.dev/scan/v1``.

Called by ``reports.render_report`` for the ``json`` format. The format is described by
``schemas/scan-v1.schema.json``; any change that breaks a reader needs a new version.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any, BinaryIO, TextIO

import orjson

from leitplanke.core.documents import SkippedInput
from leitplanke.core.policies import BrokenPolicy, Policy, Severity
from leitplanke.core.problems import Problem
from leitplanke.core.results import Rendered, Resource, Result, ScanReport
from leitplanke.reports import jsonstreaming, summaries

SCHEMA_VERSION = "leitplanke.dev/scan/v1"
SCHEMA_FILE = "scan-v1.schema.json"


def render(report: ScanReport, *, policies: Mapping[str, Policy], now: datetime) -> str:
    """The report as indented JSON with sorted keys, ending in a newline."""
    del policies  # results carry everything this format needs
    buffer = io.StringIO()
    write(report, buffer, now=now)
    return buffer.getvalue()


def write(report: ScanReport, out: TextIO, *, now: datetime, extra: Mapping[str, Any] | None = None) -> None:
    """Write the report to ``out`` a chunk of results at a time, so memory stays bounded.

    ``extra`` adds optional top-level keys the schema describes (``compliance``).
    """
    document = {
        **(extra or {}),  # first, so that the keys of the format always win
        "schemaVersion": SCHEMA_VERSION,
        "generatedAt": summaries.rfc3339(now),
        "summary": render_summary(summaries.build_summary(report)),
        "results": jsonstreaming.PLACEHOLDER,
        "problems": [_problem(problem) for problem in sorted(report.problems)],
        "skipped": [_skipped(skipped) for skipped in sorted(report.skipped, key=_skipped_key)],
    }
    if report.broken:  # only then: the reports of scans where every policy ran stay as they were
        document["brokenPolicies"] = [broken_value(broken) for broken in report.broken]
    head, tail = jsonstreaming.around_placeholder(document)
    out.write(head)
    _write_results(report, out)
    out.write(tail + "\n")


_CHUNK = 5000


def _write_results(report: ScanReport, out: TextIO) -> None:
    """The results array, one result per line: ``[``, lines of ``    {...},``, ``  ]``.

    A scan may hold hundreds of thousands of results: one line each keeps the file a third
    of the indented size, greppable, and fast to write; the workers of a large scan have
    rendered most of them already (``ScanReport.rendered``).
    """
    lines = LineRenderer()
    pieces: Iterable[bytes | _Span]
    if report.rendered is not None:
        pieces = _merged(_rendered_pieces(report.rendered, summaries.ordered(report), lines))
    else:
        results = summaries.ordered(report)
        pieces = (
            lines(results[start : start + _CHUNK]).encode("utf-8") for start in range(0, len(results), _CHUNK)
        )
    with _Sink(out) as sink:
        held: bytes | _Span = b""  # the last piece is written without its final comma
        for piece in pieces:
            if piece:
                sink.write(held or b"[\n")
                held = piece
        if not held:
            sink.write(b"[]")
            return
        if isinstance(held, _Span):
            sink.write(_Span(held.spool, held.offset, held.length - 2))
            sink.write(b"\n  ]")
        else:
            sink.write(held[:-2] + b"\n  ]")


@dataclass(slots=True)
class _Span:
    """Bytes of a spool file a worker rendered: copied to the report by the kernel."""

    spool: str
    offset: int
    length: int

    def __bool__(self) -> bool:
        return self.length > 0


class _Sink:
    """Writes UTF-8 bytes and spool spans to ``out``.

    To its binary buffer when it has one (a file, stdout): that saves decoding and encoding
    hundreds of megabytes of rendered results again. Spans then go by ``os.sendfile`` from
    the spool to the output's descriptor, never through Python; where that is refused (an
    output without a descriptor, a kernel that cannot), they are read and written.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buffer: BinaryIO | None = getattr(out, "buffer", None)
        if (getattr(out, "encoding", "") or "").lower().replace("-", "") != "utf8":
            self.buffer = None
        self.descriptor = -1
        if self.buffer is not None:
            out.flush()
            try:
                self.descriptor = self.buffer.fileno()
            except (OSError, ValueError, AttributeError):
                self.descriptor = -1
        self.spools: dict[str, BinaryIO] = {}

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        for stream in self.spools.values():
            stream.close()

    def write(self, piece: bytes | _Span) -> None:
        if isinstance(piece, _Span):
            self._copy(piece)
        elif self.buffer is not None:
            self.buffer.write(piece)
        else:
            self.out.write(piece.decode("utf-8"))

    def _copy(self, span: _Span) -> None:
        stream = self.spools.get(span.spool)
        if stream is None:
            stream = self.spools[span.spool] = open(span.spool, "rb")  # noqa: SIM115
        offset, left = span.offset, span.length
        if self.descriptor >= 0 and self.buffer is not None:
            self.buffer.flush()
            try:
                while left > 0:
                    sent = os.sendfile(self.descriptor, stream.fileno(), offset, left)
                    if sent == 0:
                        break
                    offset, left = offset + sent, left - sent
            except OSError:
                self.descriptor = -1  # not for this output: read and write from here on
        while left > 0:
            stream.seek(offset)
            data = stream.read(min(left, _COPY_CHUNK))
            if not data:
                raise OSError(f"{span.spool}: the rendered results end early")
            self.write(data)
            offset, left = offset + len(data), left - len(data)


_COPY_CHUNK = 1 << 22
_RESOURCES_KEPT = 1024  # a document's results share one resource; a few documents' suffice


def _merged(pieces: Iterable[bytes | _Span]) -> Iterator[bytes | _Span]:
    """``pieces`` with spans that continue each other joined: a worker's documents follow
    each other in its spool, so a file's results are one copy."""
    pending: _Span | None = None
    for piece in pieces:
        if isinstance(piece, _Span):
            if pending is not None and (pending.spool, pending.offset + pending.length) == (
                piece.spool,
                piece.offset,
            ):
                pending.length += piece.length
                continue
            if pending is not None:
                yield pending
            pending = _Span(piece.spool, piece.offset, piece.length)
            continue
        if pending is not None:
            yield pending
            pending = None
        yield piece
    if pending is not None:
        yield pending


def _rendered_pieces(
    rendered: Rendered, results: Sequence[Result], lines: LineRenderer
) -> Iterator[bytes | _Span]:
    """The workers' text of each document, each followed by the lines of its other results."""
    extra: dict[tuple[str, int], list[Result]] = {}
    for result in results:
        extra.setdefault((result.location.file, result.location.index), []).append(result)
    documents = sorted(extra)
    position = 0
    for segment in rendered:  # read from its columns one at a time
        while position < len(documents) and documents[position] < (segment.file, segment.index):
            yield lines(extra[documents[position]]).encode("utf-8")
            position += 1
        yield _Span(segment.spool, segment.offset, segment.length)
    for document in documents[position:]:
        yield lines(extra[document]).encode("utf-8")


def _text(value: str) -> str:
    return orjson.dumps(value).decode()


class LineRenderer:
    """Results as lines of the JSON report's results array, ``    {...},`` each.

    A line is the compact JSON, keys sorted, of ``result_value``. Most of it repeats across
    results (a policy's category and controls, a document's resource, a file name): those
    parts are rendered once and joined. Scan workers use it too (``engine.Spooled``).
    """

    def __init__(self) -> None:
        self.heads: dict[tuple[str, tuple[str, ...]], str] = {}
        self.texts: dict[str, str] = {}
        self.resources: dict[int, tuple[Resource, str]] = {}
        self.tails: dict[tuple[str, Severity, str, str], str] = {}

    def __call__(self, results: Sequence[Result]) -> str:
        return "".join([f"    {self.line(result)},\n" for result in results])

    def line(self, result: Result) -> str:
        head = self.heads.get((result.category, result.controls))
        if head is None:
            head = self.heads[(result.category, result.controls)] = (
                f'{{"category":{_text(result.category)},"controls":{orjson.dumps(list(result.controls)).decode()}'
            )
        texts = self.texts
        location = result.location
        file = texts.get(location.file) or texts.setdefault(location.file, _text(location.file))
        path = texts.get(location.path) or texts.setdefault(location.path, _text(location.path))
        policy = texts.get(result.policy) or texts.setdefault(result.policy, _text(result.policy))
        message = texts.get(result.message) or _text(result.message)
        resource = self.resources.get(id(result.resource))
        if resource is None or resource[0] is not result.resource:
            if len(self.resources) >= _RESOURCES_KEPT:
                self.resources.clear()  # a worker renders ~50,000 documents: keep the recent ones
            resource = self.resources[id(result.resource)] = (
                result.resource,
                orjson.dumps(_resource(result.resource), option=orjson.OPT_SORT_KEYS).decode(),
            )
        key = (result.rule, result.severity, result.verdict, result.waiver)
        tail = self.tails.get(key)
        if tail is None:
            tail = self.tails[key] = (
                f',"rule":{_text(result.rule)},"severity":"{_LABELS[result.severity]}"'
                f',"verdict":"{result.verdict}","waiver":{_text(result.waiver) if result.waiver else "null"}'
                "}"
            )
        fix = (
            "null"
            if result.fix is None
            else orjson.dumps(_fix(result.fix), option=orjson.OPT_SORT_KEYS).decode()
        )
        return (
            f'{head},"fix":{fix},"location":{{"file":{file},"index":{location.index},"line":{location.line}'
            f',"path":{path}}},"message":{message},"policy":{policy},"resource":{resource[1]}{tail}'
        )


def load_schema() -> dict[str, Any]:
    """The JSON Schema of this format, shipped inside the package."""
    text = resources.files("leitplanke.reports").joinpath("schemas", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def render_summary(summary: summaries.Summary) -> dict[str, Any]:
    """The ``summary`` object of the JSON report (and of the upload header)."""
    return {
        "resources": summary.resources,
        "checks": summary.checks,
        "verdicts": dict(summary.verdicts),
        "failuresBySeverity": dict(summary.failures_by_severity),
        "waived": summary.waived,
        "problems": summary.problems,
        "skippedInputs": summary.skipped_inputs,
    }


_LABELS = {severity: severity.label for severity in Severity}  # enum attributes are slow per result


def result_value(result: Result) -> dict[str, Any]:
    """One result as the schema describes it; each line of the results array renders this value."""
    resource, location = result.resource, result.location
    return {
        "policy": result.policy,
        "rule": result.rule,
        "verdict": str(result.verdict),
        "severity": _LABELS[result.severity],
        "category": result.category,
        "controls": list(result.controls),
        "message": result.message,
        "resource": _resource(resource),
        "location": {
            "file": location.file,
            "line": location.line,
            "path": location.path,
            "index": location.index,
        },
        "waiver": result.waiver or None,
        "fix": _fix(result.fix) if result.fix is not None else None,
    }


def _resource(resource: Resource) -> dict[str, str]:
    return {
        "domain": resource.domain,
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "namespace": resource.namespace,
        "name": resource.name,
    }


def _fix(fix: Mapping[str, Any]) -> dict[str, Any]:
    # always the three documented keys, whatever else the engine kept in its mapping
    return {
        "path": str(fix.get("path", "")),
        "merge": plain(fix.get("merge", {})),
        "remove": [str(key) for key in fix.get("remove", ())],
    }


def plain(value: Any) -> Any:
    """``value`` with every mapping a dict and every sequence a list, as JSON encoders expect."""
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _problem(problem: Problem) -> dict[str, Any]:
    return {
        "file": problem.file,
        "line": problem.line,
        "column": problem.column,
        "code": problem.code,
        "level": problem.level.value,
        "message": problem.message,
        "field": problem.field,
    }


def broken_value(broken: BrokenPolicy) -> dict[str, Any]:
    """A policy that could not run, as the schema's ``brokenPolicy`` describes it."""
    return {
        "name": broken.name,
        "kind": broken.kind,
        "file": broken.file,
        "line": broken.line,
        "problems": [_problem(problem) for problem in broken.problems],
    }


def _skipped(skipped: SkippedInput) -> dict[str, Any]:
    return {"file": skipped.file, "index": skipped.index, "line": skipped.line, "reason": skipped.reason}


def _skipped_key(skipped: SkippedInput) -> tuple[str, int, int, str]:
    return (skipped.file, skipped.index, skipped.line, skipped.reason)
