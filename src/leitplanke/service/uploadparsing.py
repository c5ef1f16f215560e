"""Reading a scan upload as a stream: NDJSON ``leitplanke.dev/upload/v2`` as it arrives
(``receiving.WireBody``), or the old JSON report once spooled (it is read in several passes).

Called by ``service.uploads`` in a worker thread. The body is decompressed while it is read (gzip,
counted against the size limit), decoded one line or one result at a time (``ijson`` for the JSON
report) and checked by ``governance.uploadformats``: memory stays bounded whatever the body's size.
Results come out of a generator; issues are collected (at most 20) and raised as ``UploadInvalid``
when the generator ends, so a consumer that reads every result first has written nothing by then.
"""

from __future__ import annotations

import io
import json
import re
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

import ijson
import orjson

from leitplanke.core.results import Result, Verdict
from leitplanke.governance import errors, uploadformats
from leitplanke.governance.uploadformats import Header, Issues
from leitplanke.service import problems

_CHUNK = 1 << 16
# a \uD800-\uDFFF escape: the C parser turns unpaired ones into "?", the pure Python one keeps them
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class UploadInvalid(errors.Invalid):
    """An upload with issues: the first names the field, ``issues`` lists up to 20."""

    def __init__(self, issues: list[dict[str, str]]) -> None:
        first = issues[0]
        super().__init__(f"{first['field']}: {first['message']}", field=first["field"])
        self.issues = issues


class Readable(Protocol):
    """A body to decode: a spooled file, or ``receiving.WireBody`` on the connection."""

    def read(self, size: int = -1, /) -> bytes | None: ...


class DecodedReader(io.RawIOBase):
    """The bytes of ``raw``, gunzipped when ``gzip``; more than ``limit`` of them raise 413."""

    def __init__(self, raw: Readable, *, gzip: bool, limit: int) -> None:
        super().__init__()
        self.raw, self.limit, self.seen = raw, limit, 0
        self.inflater = zlib.decompressobj(wbits=31) if gzip else None
        self.pending = b""  # compressed input not yet inflated

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._next(len(view))
        view[: len(data)] = data
        self.seen += len(data)
        if self.seen > self.limit:
            raise problems.too_large(self.limit, decompressed=self.inflater is not None)
        return len(data)

    def _next(self, size: int) -> bytes:
        if self.inflater is None:
            return self.raw.read(size) or b""
        while True:
            if not self.pending:
                self.pending = self.raw.read(_CHUNK) or b""
                if not self.pending:
                    if not self.inflater.eof and self.seen:
                        raise problems.malformed("the gzip stream ends early")
                    return b""
            if self.inflater.eof:  # another gzip member follows
                self.inflater = zlib.decompressobj(wbits=31)
            try:
                data = self.inflater.decompress(self.pending, size)
            except zlib.error as exc:
                raise problems.malformed(f"the body is not valid gzip: {exc}") from None
            self.pending = self.inflater.unconsumed_tail or self.inflater.unused_data
            if data:
                return data


@dataclass(slots=True)
class Counted(Iterable[Result]):
    """The results of an upload, read once; ``len`` is every result read (passes included) once read."""

    source: Iterator[Result]
    seen: list[int] = field(default_factory=lambda: [0])

    def __iter__(self) -> Iterator[Result]:
        return self.source

    def __len__(self) -> int:
        return self.seen[0]


@dataclass(frozen=True, slots=True)
class Upload:
    header: Header
    results: Counted


def _decode_line(line: bytes) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        # orjson refuses unpaired surrogates: decoded here, they are refused with their field's path
        return json.loads(line.decode("utf-8"))


def read_ndjson(open_stream: Callable[[], IO[bytes]]) -> Upload:
    """A v2 upload: its header line now, its result lines as they are iterated."""
    issues = Issues()
    lines = _lines(open_stream(), issues)
    first = next(lines, None)
    if issues:  # the first line is too long to be a header
        raise UploadInvalid(issues.items)
    if first is None:
        raise problems.malformed("the body is empty: the first line must be the upload's header")
    header = uploadformats.check_header(first[1], issues)
    if header is None:
        raise UploadInvalid(issues.items)
    seen = [0]
    return Upload(header, Counted(_results(lines, issues, seen, prefix=""), seen))


def _lines(stream: IO[bytes], issues: Issues) -> Iterator[tuple[int, Any]]:
    """(index, decoded value) of every line that is not blank; lines that do not decode are issues."""
    index = -1
    while True:
        line = stream.readline(uploadformats.MAX_LINE + 1)
        if not line:
            return
        if len(line) > uploadformats.MAX_LINE and not line.endswith(b"\n"):
            index += 1
            issues.add(_at(index), f"the line is longer than {uploadformats.MAX_LINE} bytes")
            while line and not line.endswith(b"\n"):  # skip the rest of it
                line = stream.readline(_CHUNK)
            continue
        if not line.strip():
            continue
        index += 1
        try:
            value = _decode_line(line)
        except (ValueError, UnicodeDecodeError) as exc:
            if index == 0:
                raise problems.malformed(f"the header line is not valid JSON: {exc}") from None
            issues.add(_at(index), f"not valid JSON: {exc}")
            continue
        yield index, value


def _at(index: int) -> str:
    return "header" if index == 0 else f"results[{index - 1}]"


def _results(
    values: Iterator[tuple[int, Any]], issues: Issues, seen: list[int], *, prefix: str
) -> Iterator[Result]:
    checker = uploadformats.ResultChecker(issues)
    for index, value in values:
        if issues.full:
            break
        path = prefix + _at(index)
        if isinstance(value, Mapping) and "passes" in value and "policy" not in value:
            count = checker.passes(value, path)
            seen[0] += count or 0
            continue
        seen[0] += 1
        result = checker.result(value, path)
        if result is not None and result.verdict is not Verdict.PASS and not issues:
            yield result
    if issues:
        raise UploadInvalid(issues.items)


def read_report(open_stream: Callable[[], IO[bytes]]) -> Upload:
    """An old ``{"app", "env", "scan": {leitplanke.dev/scan/v1 report}}`` body, read in passes over the
    spool: the small fields first (each pass stops where its field is), then the results one by one."""
    backend = _backend(open_stream)
    issues = Issues()
    fields = {
        "app": "app",
        "env": "env",
        "schemaVersion": "scan.schemaVersion",
        "generatedAt": "scan.generatedAt",
        "summary": "scan.summary",
    }
    value = {key: _first(backend, open_stream, prefix) for key, prefix in fields.items()}
    if value["app"] is _MISSING:
        issues.add("app", "required")
    if value["env"] is _MISSING:
        issues.add("env", "required")
    if value["schemaVersion"] is _MISSING:
        issues.add("scan.schemaVersion", f"must be {uploadformats.REPORT_SCHEMA_VERSION}")
    if issues:
        raise UploadInvalid(issues.items)
    present = {key: item for key, item in value.items() if item is not _MISSING}
    header = uploadformats.check_header(
        present, issues, version=uploadformats.REPORT_SCHEMA_VERSION, prefix="scan."
    )
    if header is None:
        raise UploadInvalid(issues.items)
    seen = [0]
    items = _report_results(backend, open_stream)
    return Upload(header, Counted(_results(items, issues, seen, prefix="scan."), seen))


_MISSING: Any = object()


def _backend(open_stream: Callable[[], IO[bytes]]) -> Any:
    """ijson's C parser, or its pure Python one when the body escapes surrogates (it keeps them unpaired,
    so they are refused, where the C parser would silently turn them into "?")."""
    with open_stream() as stream:
        tail = b""
        while chunk := stream.read(1 << 20):
            if _SURROGATE_ESCAPE.search(tail + chunk):
                return ijson.get_backend("python")
            tail = chunk[-8:]
    return ijson


def _first(backend: Any, open_stream: Callable[[], IO[bytes]], prefix: str) -> Any:
    with open_stream() as stream:
        try:
            return next(iter(backend.items(stream, prefix, use_float=True)), _MISSING)
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
            raise problems.malformed(f"the body is not valid JSON: {_reason(exc)}") from None


def _report_results(backend: Any, open_stream: Callable[[], IO[bytes]]) -> Iterator[tuple[int, Any]]:
    with open_stream() as stream:
        try:
            for index, item in enumerate(backend.items(stream, "scan.results.item", use_float=True)):
                yield index + 1, item
        except (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError) as exc:
            raise problems.malformed(f"the body is not valid JSON: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    text = exc.args[0] if exc.args else exc
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).splitlines()[0] if str(text) else type(exc).__name__
