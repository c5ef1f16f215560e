"""Parsing the bytes of one input (YAML or JSON, one or many documents) into Documents.

Pure: no file I/O. ``files``, ``kustomize`` and ``helm`` call ``parse_documents`` with what they
read or rendered; one broken document never hides the others.
"""

from __future__ import annotations

import codecs
import gc
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from yaml.nodes import Node, ScalarNode

from leitplanke.core.documents import Document, Origin, SkippedInput
from leitplanke.core.problems import Level, Problem
from leitplanke.sources import building, composing, locations

Output = Document | Problem | SkippedInput
_NULL_TAG = "tag:yaml.org,2002:null"
_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one input, so that a hostile file costs a Problem, not the process."""

    max_bytes: int = 64 * 1024 * 1024
    max_nodes: int = 1_000_000  # after aliases are expanded (billion laughs)


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class _Unit:
    """One object of a document: the document itself, or an item of a List or a JSON array."""

    body: Any
    node: Node | None  # None when the JSON module had to read the input
    prefix: tuple[locations.Step, ...]


def parse_documents(data: bytes, *, file: str, limits: Limits = DEFAULT_LIMITS) -> Iterator[Output]:
    """The documents of ``data``, with a Problem for each part that could not be read.

    ``Origin.index`` counts the objects of the input (List items one by one, rejected ones too,
    empty documents not); ``Origin.line`` is the line where the object starts (its first key);
    ``Origin.lines`` is a ``locations.NodeLines``. A mapping without ``apiVersion`` or ``kind``
    is a ``SkippedInput`` (``not-kubernetes``). A key that occurs twice keeps its last value, as
    ``json.loads``, PyYAML and the API server's non-strict decoding do, with a ``duplicate-key``
    warning (kubectl's ``--validate=strict`` refuses it). Keys are kept as written (``80: x``
    has the key ``"80"``); scalars resolve as in YAML 1.1, except that base-60 numbers stay
    strings and ``1e5`` is a float, as Kubernetes reads them.
    """
    problem = _unreadable(data, file=file, limits=limits)
    if problem is not None:
        yield problem
        return
    data = _normalised(data)
    is_json = composing.looks_like_json(data)
    if is_json and b"\t" in data:
        data = data.replace(b"\t", b" ")  # JSON strings hold no raw tab, and YAML refuses tabs
    text = composing.SourceText(data)
    roots = composing.compose_roots(text, file=file, syntax_code="json-syntax" if is_json else "yaml-syntax")
    stream: Iterator[composing.Root | Problem | list[Output]] = (
        _json_roots(roots, data, file=file) if is_json else roots
    )
    indexes = itertools.count()
    may_alias = composing.may_have_anchors(data)
    while True:
        paused = gc.isenabled()
        gc.disable()  # else the collector walks the new nodes again and again while they are composed
        try:
            item = next(stream, None)
            if item is None:
                break
            produced = item if isinstance(item, list) else _outputs(item, file, indexes, limits, may_alias)
        finally:
            if paused:
                gc.enable()
        yield from produced


def _unreadable(data: bytes, *, file: str, limits: Limits) -> Problem | None:
    if len(data) > limits.max_bytes:
        message = f"{len(data)} bytes is more than the limit of {limits.max_bytes}"
        return Problem(file, 0, "too-large", message)
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            data.decode("utf-16")  # with its byte order mark, as PowerShell's `>` writes it
        except UnicodeDecodeError as exc:
            return Problem(file, 0, "not-utf8", f"invalid UTF-16 at offset {exc.start}")
        return None
    if b"\0" in data[:_SNIFF_BYTES]:
        return Problem(file, 0, "binary-file", "NUL bytes in the first 8 KB: not a text file")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"invalid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        return Problem(file, line, "not-utf8", message, column=exc.start - line_start + 1)
    return None


def _normalised(data: bytes) -> bytes:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16").encode("utf-8")
    return data.removeprefix(codecs.BOM_UTF8)  # libyaml skips it too; marks count from after it


def _json_roots(
    roots: Iterator[composing.Root | Problem], data: bytes, *, file: str
) -> Iterator[composing.Root | Problem | list[Output]]:
    """JSON through YAML (for the lines); what YAML cannot read (``\\ud83d`` escapes), through json."""
    composed = list(roots)
    if not any(isinstance(item, Problem) and item.code == "json-syntax" for item in composed):
        yield from composed
        return
    try:
        value = json.loads(data)
    except json.JSONDecodeError as exc:
        yield [Problem(file, exc.lineno, "json-syntax", exc.msg, column=exc.colno)]
        return
    except RecursionError:
        yield [Problem(file, 1, "too-deep", "nested deeper than Python can follow")]
        return
    yield [_output(unit, file, index, 0, None) for index, unit in enumerate(_units(value, None, ()))]


def _outputs(
    item: composing.Root | Problem, file: str, indexes: Iterator[int], limits: Limits, may_alias: bool
) -> list[Output]:
    if isinstance(item, Problem):
        return [item]
    node = item.node
    if isinstance(node, ScalarNode) and node.tag == _NULL_TAG:
        return []  # an empty document, or one with comments only
    line = item.line_of(node)
    if may_alias and building.exceeds(node, limits.max_nodes):
        next(indexes)
        message = f"expands to more than {limits.max_nodes} nodes through aliases (billion laughs?)"
        return [Problem(file, line, "alias-bomb", message)]
    try:
        body, duplicates = building.build(node)
    except building.Rejected as exc:
        next(indexes)
        return [Problem(file, item.line_of(exc.node), "yaml-syntax", str(exc))]
    except RecursionError:
        next(indexes)
        return [Problem(file, line, "too-deep", "nested deeper than Python can follow")]
    found: list[Output] = [_duplicate(duplicate, file, item) for duplicate in duplicates]
    for unit in _units(body, node, ()):
        found.append(_output(unit, file, next(indexes), item.line_of(unit.node or node), _lines(item, unit)))
    return found


def _lines(root: composing.Root, unit: _Unit) -> locations.NodeLines:
    return locations.NodeLines(
        root.text,
        span=root.span(),
        base_line=root.line_of(root.node) - 1,
        prefix=unit.prefix,
        node=root.node,
        node_base=root.base_line,
    )


def _duplicate(duplicate: building.Duplicate, file: str, root: composing.Root) -> Problem:
    message = f"key {duplicate.key.value!r} occurs more than once; the last value is used"
    line = root.line_of(duplicate.key)
    column = duplicate.key.start_mark.column + 1
    return Problem(file, line, "duplicate-key", message, duplicate.path, column, Level.WARNING)


def _units(body: Any, node: Node | None, prefix: tuple[locations.Step, ...]) -> Iterator[_Unit]:
    """The objects of a document: itself, or each item of a ``*List`` kind with ``items``, or of a
    top-level list (a JSON array) whose items are all mappings."""
    if isinstance(body, dict):
        items = body.get("items")
        if str(body.get("kind", "")).endswith("List") and isinstance(items, list):
            items_node = _below(node, "items")
            for index, item in enumerate(items):
                yield from _units(item, _below(items_node, index), (*prefix, "items", index))
            return
    elif isinstance(body, list) and all(isinstance(item, dict) for item in body):
        for index, item in enumerate(body):
            yield from _units(item, _below(node, index), (*prefix, index))
        return
    yield _Unit(body, node, prefix)


def _below(node: Node | None, step: locations.Step) -> Node | None:
    found = locations.child(node, step) if node is not None else None
    return found[1] if found is not None else None


def _output(unit: _Unit, file: str, index: int, line: int, lines: locations.NodeLines | None) -> Output:
    body = unit.body
    if not isinstance(body, dict):
        found = "a list" if isinstance(body, list) else "a scalar"
        return Problem(file, line, "not-a-mapping", f"a document must be a mapping, found {found}")
    if not (_is_text(body.get("apiVersion")) and _is_text(body.get("kind"))):
        return SkippedInput(file, index, line, "not-kubernetes")
    return Document(body, Origin(file, index, line, {} if lines is None else lines), "kubernetes")


def _is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value)
