"""Composing YAML text into node trees, one region of an input at a time, on ``yamlloaders``.

``parsing`` calls ``compose_roots`` for every input and ``locations`` calls ``compose_first``
to find lines again later. A syntax error, a control character or a document nested too
deep costs that document only: composing resumes at the next ``---`` line.
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass

import yaml
from yaml.events import MappingEndEvent, MappingStartEvent, SequenceEndEvent, SequenceStartEvent
from yaml.nodes import Node
from yaml.reader import ReaderError

from leitplanke.core.problems import Problem
from leitplanke.sources import yamlloaders

# libyaml's composer recurses in C: a few tens of thousands of levels overflow the stack and kill
# the process. Documents deeper than this are refused before they reach it.
SAFE_DEPTH = 4000
# A line that starts a document. YAML ends any document, block scalars included, at such a line.
_SEPARATOR = re.compile(rb"^---(?=[ \t\r\n]|$)", re.MULTILINE)
# What libyaml's reader refuses: C0 controls but tab, LF and CR, DEL; C1 controls but NEL; U+FFFE
# and U+FFFF. The reader reads ahead, so its error would surface before documents that precede it.
_ALLOWED_BYTES = bytes([0x09, 0x0A, 0x0D, *range(0x20, 0x7F), *range(0x80, 0x100)])
_C1_CONTROL = re.compile(rb"\xc2[\x80-\x84\x86-\x9f]")
_NONCHARACTER = re.compile(rb"\xef\xbf[\xbe\xbf]")
# Block indicators followed by another indicator or a node property: compact nesting (``- - x``).
_NESTED_INDICATOR = re.compile(rb"[-?:][ \t]+[-?:!&]")
_INDICATOR_RUN = re.compile(rb"(?:[-?:][ \t]+(?:[!&][^ \t\r\n]*[ \t]+)*)+")
_ANCHOR_BEFORE = (b" ", b"\t", b"\n", b"\r", b"[", b"{", b",")
_ANCHOR_NOT_AFTER = (b"", b" ", b"\t", b"\n", b"\r", b"&")
_JSON_START = re.compile(rb"[ \t\r\n]*[\[{]")


class SourceText:
    """The (normalised) bytes of one input, shared by the line maps of its documents."""

    __slots__ = ("_ascii", "_decoded", "_line_starts", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._ascii = data.isascii()
        self._decoded: str | None = None
        self._line_starts: list[int] | None = None

    @property
    def is_ascii(self) -> bool:
        return self._ascii

    def line_at(self, offset: int) -> int:
        """0-based line of a byte offset."""
        return self.data.count(b"\n", 0, offset)

    def line_start(self, line: int) -> int:
        """Byte offset of a 0-based line (the end of the data past the last line)."""
        if self._line_starts is None:
            self._line_starts = [0, *(match.end() for match in re.finditer(b"\n", self.data))]
        starts = self._line_starts
        return starts[line] if line < len(starts) else len(self.data)

    def char_index(self, offset: int) -> int:
        """Character index of a byte offset: libyaml's marks count characters."""
        return offset if self._ascii else len(self.data[:offset].decode("utf-8"))

    def chars(self, start: int, end: int) -> bytes | str:
        """The text between two character indexes."""
        if self._ascii:
            return self.data[start:end]
        if self._decoded is None:
            self._decoded = self.data.decode("utf-8")
        return self._decoded[start:end]


@dataclass(frozen=True, slots=True)
class Root:
    """The top node of one YAML document and where the region it was composed from starts."""

    node: Node
    text: SourceText
    base_line: int  # 0-based line of the region: node marks count from it
    base_char: int  # character index of the region

    def line_of(self, node: Node) -> int:
        """1-based line of a node of this document."""
        return self.base_line + node.start_mark.line + 1

    def span(self) -> tuple[int, int]:
        """Character span of the document's text, from the start of its first line."""
        start, end = self.node.start_mark, self.node.end_mark
        return self.base_char + start.index - start.column, self.base_char + end.index


@dataclass(frozen=True, slots=True)
class _Barrier:
    """A document known to be unreadable before composing: it is skipped, not composed."""

    line: int  # 0-based
    problem: Problem


def looks_like_json(data: bytes) -> bool:
    return _JSON_START.match(data) is not None


def may_have_anchors(data: bytes) -> bool:
    """Whether ``data`` may define an anchor: ``&name`` after a space or a flow indicator.

    Without anchors there are no aliases, and no document needs its expanded size counted.
    """
    at = data.find(b"&")
    while at >= 0:
        before = data[at - 1 : at] if at else b" "
        after = data[at + 1 : at + 2]
        if before in _ANCHOR_BEFORE and after not in _ANCHOR_NOT_AFTER:
            return True
        at = data.find(b"&", at + 1)
    return False


def compose_roots(text: SourceText, *, file: str, syntax_code: str) -> Iterator[Root | Problem]:
    """Every document of ``text`` as a ``Root``, and a ``Problem`` for each one that could not be read."""
    check_depth = _may_be_too_deep(text.data)
    start: int | None = 0
    while start is not None:
        barrier = _first_barrier(text, start, file=file, syntax_code=syntax_code, check_depth=check_depth)
        end = len(text.data) if barrier is None else _document_start(text, barrier.line, start)
        resume = yield from _compose_region(text, start, end, file=file, syntax_code=syntax_code)
        if resume is not None or barrier is None:
            start = resume
            continue
        yield barrier.problem
        start = _separator_from(text, barrier.line + 1)


def compose_first(text: bytes | str) -> Node | None:
    """The first document of ``text`` as a node tree, or ``None`` if it does not compose."""
    loader = yamlloaders.new_loader(text)
    paused = gc.isenabled()
    gc.disable()  # with many documents kept, the collector would walk them all for each new tree
    try:
        return loader.get_node() if loader.check_node() else None
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
        if paused:
            gc.enable()


def _compose_region(
    text: SourceText, start: int, end: int, *, file: str, syntax_code: str
) -> Generator[Root | Problem, None, int | None]:
    """Compose ``data[start:end]``; after a syntax error, return where to resume (or ``None``)."""
    data = text.data if start == 0 and end == len(text.data) else text.data[start:end]
    base_line, base_char = text.line_at(start), text.char_index(start)
    loader = yamlloaders.new_loader(data)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                yield Root(node, text, base_line, base_char)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = base_line + (mark.line if mark else 0)
        column = mark.column + 1 if mark else 0
        yield Problem(file, line + 1, syntax_code, _describe(exc), column=column)
        return _separator_from(text, max(line, base_line + 1))
    except ReaderError as exc:
        line = text.line_at(start + int(exc.position))
        yield Problem(file, line + 1, syntax_code, str(exc.reason))
        return _separator_from(text, max(line, base_line) + 1)
    except RecursionError:  # only the pure-Python composer recurses in Python
        line = base_line + int(getattr(loader, "line", 0))
        yield Problem(file, line + 1, "too-deep", "nested deeper than Python can follow")
        return _separator_from(text, max(line, base_line) + 1)
    finally:
        loader.dispose()
    return None


def _describe(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or "invalid YAML"
    return f"{problem} ({exc.context})" if exc.context else problem


def _separator_from(text: SourceText, line: int) -> int | None:
    """Byte offset of the first ``---`` line at or after 0-based ``line``."""
    match = _SEPARATOR.search(text.data, text.line_start(line))
    return match.start() if match else None


def _document_start(text: SourceText, line: int, floor: int) -> int:
    """Byte offset of the ``---`` line that starts the document holding ``line``, not before ``floor``."""
    found = floor
    for match in _SEPARATOR.finditer(text.data, floor, text.line_start(line + 1)):
        found = match.start()
    return found


def _first_barrier(
    text: SourceText, start: int, *, file: str, syntax_code: str, check_depth: bool
) -> _Barrier | None:
    found = (
        _control_character(text, start, file, syntax_code),
        _too_deep(text, start, file) if check_depth else None,
    )
    barriers = [barrier for barrier in found if barrier is not None]
    return min(barriers, key=lambda barrier: barrier.line) if barriers else None


def _control_character(text: SourceText, start: int, file: str, code: str) -> _Barrier | None:
    offset = _first_control_character(text, start)
    if offset < 0:
        return None
    line = text.line_at(offset)
    line_start = text.line_start(line)
    column = len(text.data[line_start:offset].decode("utf-8", "replace")) + 1
    character = text.data[offset:].decode("utf-8", "replace")[:1]
    message = f"control character U+{ord(character):04X} is not allowed in YAML"
    return _Barrier(line, Problem(file, line + 1, code, message, column=column))


def _first_control_character(text: SourceText, start: int) -> int:
    """Byte offset of the first character libyaml refuses at or after ``start``, or -1."""
    data = text.data
    # deleting every allowed byte is a single fast pass; what is left names the culprits
    offsets = [data.find(bytes([culprit]), start) for culprit in set(data.translate(None, _ALLOWED_BYTES))]
    if not text.is_ascii:
        offsets += [
            match.start()
            for match in (_C1_CONTROL.search(data, start), _NONCHARACTER.search(data, start))
            if match
        ]
    found = [offset for offset in offsets if offset >= 0]
    return min(found) if found else -1


def _too_deep(text: SourceText, start: int, file: str) -> _Barrier | None:
    """The first node nested deeper than ``SAFE_DEPTH``, found with the parser's events (no recursion)."""
    loader = yamlloaders.new_loader(text.data[start:] if start else text.data)
    base_line = text.line_at(start)
    depth = 0
    try:
        while loader.check_event():
            event = loader.get_event()
            kind = event.__class__
            if kind is MappingStartEvent or kind is SequenceStartEvent:
                depth += 1
                if depth > SAFE_DEPTH and event is not None and event.start_mark is not None:
                    line = base_line + event.start_mark.line
                    message = f"nested deeper than {SAFE_DEPTH} levels"
                    return _Barrier(line, Problem(file, line + 1, "too-deep", message))
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                depth -= 1
    except yaml.YAMLError:
        return None  # composing reports the error at the same place, then checks what follows
    finally:
        loader.dispose()
    return None


def _may_be_too_deep(data: bytes) -> bool:
    """Whether a cheap upper bound on the nesting depth exceeds ``SAFE_DEPTH``.

    Flow depth is at most the number of non-empty ``[``/``{`` plus one. A nested block
    collection starts at a greater column than its parent (or the same one, for a sequence
    inside a mapping), so block depth is at most twice the widest indentation plus compact
    indicators on one line. Valid JSON is checked by the json module, which fails cleanly.
    """
    if looks_like_json(data):
        try:
            json.loads(data)
        except RecursionError:
            return True
        except ValueError:
            pass  # YAML in flow style, or broken JSON: fall back to the bound
        else:
            return False  # the json module refuses ~1000 levels, well below SAFE_DEPTH
    quarter = SAFE_DEPTH // 4
    flow = data.count(b"[") + data.count(b"{") - data.count(b"[]") - data.count(b"{}") + 1
    indent = b" " * (SAFE_DEPTH // 8)
    if flow > quarter or data.startswith(indent) or b"\n" + indent in data:
        return True
    # a run of n compact indicators takes a line of at least 2n characters
    lines = data.splitlines()
    if max(map(len, lines), default=0) <= SAFE_DEPTH // 4:
        return False
    long_lines = (line for line in lines if len(line) > SAFE_DEPTH // 4)
    return any(_longest_indicator_run(line) > SAFE_DEPTH // 8 for line in long_lines)


def _longest_indicator_run(line: bytes) -> int:
    longest, skip_to = 0, 0
    for match in _NESTED_INDICATOR.finditer(line):
        if match.start() < skip_to:
            continue
        run = _INDICATOR_RUN.match(line, match.start())
        if run is None:  # pragma: no cover - the pattern above always starts a run
            continue
        skip_to = run.end()
        found = run.group()
        longest = max(longest, found.count(b"-") + found.count(b"?") + found.count(b":"))
    return longest
