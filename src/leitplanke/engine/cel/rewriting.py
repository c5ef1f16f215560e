"""Rewriting CEL source where the runtime cannot say what Kubernetes says: results that are
optionals made in Python, the map insertion that transformMap expands to, and type names.

``environments`` compiles the rewritten source and maps every problem's place back to the
source as written. Only code is rewritten: string literals and comments are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leitplanke.engine.cel import formats, functions, networks, sourcetext

# a member call of validate, or the global format.named
_VALIDATE = re.compile(r"\.\s*validate\s*\(")
_NAMED = re.compile(r"(?<![\w.])format\s*\.\s*named\s*\(")
_TRANSFORM = re.compile(r"\.\s*(transformMap|transformMapEntry)\s*\(")
_TYPE_NAME = re.compile(r"(?<![\w.])net\s*\.\s*(IP|CIDR)\b")
_TYPE_CALL = re.compile(r"(?<![\w.])type\s*\($")
_EQUALITY = re.compile(r"\s*(==|!=)\s*")

# where two edits meet at one place: what opens an argument first, what follows a call
# (an optional's field, a conversion) before what closes an argument around it
_OPENING, _AFTER_CALL, _CLOSING, _REPLACING = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class _Edit:
    start: int
    end: int  # == start for an insertion
    order: int
    text: str


@dataclass(frozen=True, slots=True)
class Rewritten:
    """The source to compile, and for each of its characters the index it came from."""

    source: str
    origins: tuple[int, ...]  # len(source) + 1 entries: the end maps to the original's end

    def place(self, original: str, line: int, column: int) -> tuple[int, int]:
        """The 1-based line and column in ``original`` of ``line``:``column`` here."""
        lines = self.source.split("\n")
        if line > len(lines):
            return line, column
        offset = sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
        at = self.origins[min(max(offset, 0), len(self.origins) - 1)]
        before = original.rfind("\n", 0, at)
        return original.count("\n", 0, at) + 1, at - before


def rewrite(source: str) -> Rewritten | None:
    """``source`` as the runtime can compile it, or None when nothing needs rewriting (or a
    literal is left open: the compiler then reports that)."""
    if not any(word in source for word in ("validate", "named", "transformMap", "net")):
        return None
    text = sourcetext.masked(source)
    if text is None:
        return None
    edits = [*_optional_results(text), *_transforms(text), *_type_names(text)]
    if not edits:
        return None
    return _apply(source, edits)


def _apply(source: str, edits: list[_Edit]) -> Rewritten:
    pieces: list[str] = []
    origins: list[int] = []
    at = 0
    for edit in sorted(edits, key=lambda edit: (edit.start, edit.order)):
        pieces.append(source[at : edit.start])
        origins.extend(range(at, edit.start))
        pieces.append(edit.text)
        origins.extend([edit.start] * len(edit.text))
        at = max(at, edit.end)
    pieces.append(source[at:])
    origins.extend(range(at, len(source) + 1))
    return Rewritten("".join(pieces), tuple(origins))


def _optional_results(text: str) -> list[_Edit]:
    """`f.validate(s)` and `format.named(n)` give a map; its optional field is the optional."""
    edits = []
    for pattern, key in ((_VALIDATE, formats.ERRORS_KEY), (_NAMED, formats.FORMAT_KEY)):
        for found in pattern.finditer(text):
            closing = sourcetext.closing_masked(text, found.end() - 1)
            if closing > 0:
                edits.append(_Edit(closing + 1, closing + 1, _AFTER_CALL, f".?{key}"))
    return edits


def _transforms(text: str) -> list[_Edit]:
    """`x.transformMap(k, v, [filter,] e)` as `x.transformList(k, v, [filter,] [k, e])` made a map."""
    edits = []
    for found in _TRANSFORM.finditer(text):
        opening = found.end() - 1
        closing = sourcetext.closing_masked(text, opening)
        arguments = sourcetext.argument_spans(text, opening + 1, closing) if closing > 0 else []
        if len(arguments) not in (3, 4):
            continue  # the compiler reports the wrong number of arguments
        edits.append(_Edit(found.start(1), found.end(1), _REPLACING, "transformList"))
        first, last = arguments[0], arguments[-1]
        if found[1] == "transformMap":
            key = text[first[0] : first[1]].strip()
            edits.append(_Edit(last[0], last[0], _OPENING, f"[{key}, "))
            edits.append(_Edit(last[1], last[1], _CLOSING, "]"))
            convert = functions.MAP_OF_PAIRS
        else:
            convert = functions.MAP_OF_ENTRIES
        edits.append(_Edit(closing + 1, closing + 1, _AFTER_CALL, f".{convert}()"))
    return edits


def _type_names(text: str) -> list[_Edit]:
    """`type(x) == net.IP` (either side, or `!=`) as a comparison of type names: the runtime
    has no custom types. `net.IP` anywhere else stays an undeclared name."""
    edits = []
    for found in _TYPE_NAME.finditer(text):
        call = _type_call_before(text, found.start()) or _type_call_after(text, found.end())
        if call is None:
            continue
        name_start, opening, closing = call
        edits.append(_Edit(found.start(), found.end(), _REPLACING, f"'net.{found[1]}'"))
        edits.append(_Edit(name_start, opening + 1, _REPLACING, f"{networks.TYPE_NAME_FUNCTION}(["))
        edits.append(_Edit(closing, closing, _CLOSING, "]"))
    return edits


def _type_call_before(text: str, name_start: int) -> tuple[int, int, int] | None:
    before = text[:name_start]
    equality = re.search(r"(==|!=)\s*$", before)
    if equality is None:
        return None
    closing = len(before[: equality.start()].rstrip()) - 1
    if closing < 0 or text[closing] != ")":
        return None
    opening = _opening(text, closing)
    call = _TYPE_CALL.search(text[: opening + 1]) if opening >= 0 else None
    return None if call is None else (call.start(), opening, closing)


def _type_call_after(text: str, name_end: int) -> tuple[int, int, int] | None:
    equality = _EQUALITY.match(text, name_end)
    if equality is None:
        return None
    call = re.compile(r"type\s*\(").match(text, equality.end())
    if call is None:
        return None
    closing = sourcetext.closing_masked(text, call.end() - 1)
    return None if closing < 0 else (call.start(), call.end() - 1, closing)


def _opening(text: str, closing: int) -> int:
    depth = 0
    for index in range(closing, -1, -1):
        if text[index] in ")]}":
            depth += 1
        elif text[index] in "([{":
            depth -= 1
            if depth == 0:
                return index
    return -1
