"""YAML scalars as written: the file line and column each character of a scalar's value comes
from, through quotes, escapes, folding and block indentation.

``compiling`` asks ``file_position`` where a CEL problem sits in the policy file; the scalar's
text comes from ``yamlnodes.YamlDocument.scalar_text``.
"""

from __future__ import annotations

from leitplanke.core.policies import ScalarText

_BLANKS = " \t"
# double-quoted escapes of one character (``\x``, ``\u`` and ``\U`` take hex digits)
_ESCAPES = {
    "0": "\0", "a": "\x07", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
    "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
    "L": "\u2028", "P": "\u2029",
}  # fmt: skip
_HEX = {"x": 2, "u": 4, "U": 8}


def file_position(scalar: ScalarText, value: str, line: int, column: int) -> tuple[int, int] | None:
    """1-based (line, column) in the file of the character at 1-based ``line``/``column`` of
    ``value``; None when ``value`` is not what ``scalar`` reads as (a message rewritten
    before compiling, a form this reading does not follow)."""
    rebuilt, offsets = value_offsets(scalar, value)
    block = scalar.style in ("|", ">")
    if (rebuilt.rstrip("\n") != value.rstrip("\n")) if block else rebuilt != value:
        return None
    at = sum(len(text) + 1 for text in value.split("\n")[: line - 1]) + column - 1
    if not offsets:
        raw = 1 if scalar.style in ("'", '"') else 0
    elif at < len(offsets):
        raw = offsets[at]
    else:
        raw = offsets[-1] + 1
    raw = max(0, min(raw, len(scalar.text)))
    breaks = scalar.text.count("\n", 0, raw)
    if breaks == 0:
        return scalar.line + 1, scalar.column + raw + 1
    return scalar.line + breaks + 1, raw - scalar.text.rfind("\n", 0, raw)


def value_offsets(scalar: ScalarText, expected: str | None = None) -> tuple[str, list[int]]:
    """The value ``scalar`` reads as, and the offset in ``scalar.text`` of each of its characters
    (a space or line break made by folding sits at the break it replaces).

    A block's indentation is that of its first line with content; with an explicit indentation
    indicator (``|2``) it depends on the parent's, which the scalar does not know: then each
    indentation from the indicator's up to the first line's is tried against ``expected``.
    """
    if scalar.style not in ("|", ">"):
        return _flow(scalar.text, scalar.style)
    folded = scalar.style == ">"
    found = _block(scalar.text, folded=folded, indent=None)
    header = scalar.text.split("\n", 1)[0]
    digits = [int(char) for char in header if char.isdigit()]
    if expected is None or not digits or found[0].rstrip("\n") == expected.rstrip("\n"):
        return found
    for indent in range(digits[0], _first_indent(scalar.text)):
        tried = _block(scalar.text, folded=folded, indent=indent)
        if tried[0].rstrip("\n") == expected.rstrip("\n"):
            return tried
    return found


class _Out:
    def __init__(self) -> None:
        self.chars: list[str] = []
        self.offsets: list[int] = []

    def add(self, chars: str, offset: int) -> None:
        for char in chars:
            self.chars.append(char)
            self.offsets.append(offset)

    def span(self, text: str, start: int, end: int) -> None:
        self.chars.extend(text[start:end])
        self.offsets.extend(range(start, end))

    def result(self) -> tuple[str, list[int]]:
        return "".join(self.chars), self.offsets


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    while True:
        found = text.find("\n", start, end)
        if found < 0:
            spans.append((start, end))
            return spans
        spans.append((start, found))
        start = found + 1


def _flow(text: str, style: str) -> tuple[str, list[int]]:
    """A plain or quoted scalar: line breaks fold into a space, empty lines into breaks, and
    the blanks around a break go; a double-quoted line ending in ``\\`` joins with no space."""
    quoted = style in ("'", '"')
    spans = _lines(text, 1 if quoted else 0, len(text) - 1 if quoted else len(text))
    out = _Out()
    empty = 0
    escaped = False  # the previous line's break was escaped
    previous_break = 0  # where the line before ends: a folded space or break sits there
    for number, (start, end) in enumerate(spans):
        last = number == len(spans) - 1
        line_end = end
        if number:
            while start < end and text[start] in _BLANKS:
                start += 1
        ends_escaped = style == '"' and not last and _odd_backslashes(text, start, end)
        if ends_escaped:
            end -= 1
        elif not last:
            while end > start and text[end - 1] in _BLANKS:
                end -= 1
        if number:
            if start == end and not last:
                empty += 1
                continue
            if empty:
                out.add("\n" * empty, previous_break)
            elif not escaped:
                out.add(" ", previous_break)
            empty = 0
        escaped = ends_escaped
        previous_break = line_end
        _content(text, start, end, style, out)
    return out.result()


def _odd_backslashes(text: str, start: int, end: int) -> bool:
    count = 0
    while end - count > start and text[end - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _content(text: str, start: int, end: int, style: str, out: _Out) -> None:
    if style == "'":
        at = start
        while at < end:
            out.add(text[at], at)
            at += 2 if text.startswith("''", at) else 1
        return
    if style != '"':
        out.span(text, start, end)
        return
    at = start
    while at < end:
        char = text[at]
        if char != "\\" or at + 1 >= end:
            out.add(char, at)
            at += 1
            continue
        code = text[at + 1]
        width = _HEX.get(code, 0)
        if width:
            try:
                out.add(chr(int(text[at + 2 : at + 2 + width], 16)), at)
            except ValueError:
                out.add(text[at : at + 2 + width], at)
            at += 2 + width
        else:
            out.add(_ESCAPES.get(code, code), at)
            at += 2


def _first_indent(text: str) -> int:
    for line in text.split("\n")[1:]:
        if line.strip(" "):
            return len(line) - len(line.lstrip(" "))
    return 0


def _block(text: str, *, folded: bool, indent: int | None) -> tuple[str, list[int]]:
    """A literal (``|``) or folded (``>``) block: lines less their indentation (that of the
    first line with content); folded, two lines that start with no blank join with a space."""
    header = text.find("\n")
    if header < 0:
        return "", []
    spans = _lines(text, header + 1, len(text))
    if indent is None:
        indent = _first_indent(text)
    out = _Out()
    at = 0
    breaks: list[int] = []
    while at < len(spans) and _is_empty(text, spans[at], indent):
        breaks.append(spans[at][1])
        at += 1
    while at < len(spans) and _indented(text, spans[at], indent):
        for offset in breaks:
            out.add("\n", offset)
        start, end = spans[at]
        leading_non_blank = text[start + indent] not in _BLANKS
        out.span(text, start + indent, end)
        at += 1
        breaks = []
        while at < len(spans) and _is_empty(text, spans[at], indent):
            breaks.append(spans[at][1])
            at += 1
        if at >= len(spans) or not _indented(text, spans[at], indent):
            break
        following = spans[at][0] + indent
        if folded and leading_non_blank and text[following] not in _BLANKS:
            if not breaks:
                out.add(" ", end)
        else:
            out.add("\n", end)
    return out.result()


def _is_empty(text: str, span: tuple[int, int], indent: int) -> bool:
    start, end = span
    return end - start <= indent and not text[start:end].strip(" ") and end < len(text)


def _indented(text: str, span: tuple[int, int], indent: int) -> bool:
    start, end = span
    return end - start > indent and text[start : start + indent] == " " * indent
