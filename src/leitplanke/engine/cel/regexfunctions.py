"""Kubernetes' CEL regex library (`find`, `findAll`) on RE2, and where its constant patterns are.

Pure Python, no CEL import: `engine.cel` registers `declarations()` and checks the
`constant_patterns` of every expression it compiles, as Kubernetes compiles a constant pattern
with the program. (`matches` is the CEL runtime's own, on RE2 too.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leitplanke.engine import regexes
from leitplanke.engine.cel import functions, sourcetext

# a member call of find or findAll, found in source whose literals are masked
_CALL = re.compile(r"\.\s*(?:find|findAll)\s*\(\s*")


@dataclass(frozen=True, slots=True)
class ConstantPattern:
    """A string literal written as the pattern of a `find` or `findAll` call."""

    literal: str  # CEL source of the literal, quotes (and an r prefix) included
    line: int  # 1-based, in characters
    column: int


def _find(text: str, pattern: str) -> str:
    try:
        return regexes.find(pattern, text)
    except regexes.PatternError as exc:
        raise TypeError(f"Illegal regex: {exc}") from None  # Kubernetes' words at run time


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    try:
        return regexes.find_all(pattern, text, limit=limit)
    except regexes.PatternError as exc:
        raise TypeError(f"Illegal regex: {exc}") from None


def constant_patterns(source: str) -> list[ConstantPattern]:
    """The literal patterns of ``source``'s `find`/`findAll` calls (none if a literal is left open)."""
    text = sourcetext.masked(source)
    if text is None or ".find" not in text:
        return []
    found: list[ConstantPattern] = []
    for call in _CALL.finditer(text):
        start = opening = call.end()
        if text.startswith(("r", "R"), opening):
            opening += 1
        if opening >= len(text) or text[opening] not in "'\"":
            continue
        quote = text[opening] * 3 if text.startswith(text[opening] * 3, opening) else text[opening]
        # the inside is masked, so the next quote closes the literal
        closing = text.find(quote, opening + len(quote))
        if closing < 0:
            continue
        end = closing + len(quote)
        after = text[end:].lstrip()
        if not after.startswith((",", ")")):
            continue  # the pattern is an expression that merely starts with a literal
        line = source.count("\n", 0, start) + 1
        column = start - (source.rfind("\n", 0, start) + 1) + 1
        found.append(ConstantPattern(source[start:end], line, column))
    return found


def declarations() -> list[functions.Declaration]:
    return [
        functions.member("find", "string_find_string", "string", ("string", "string"), _find),
        functions.member("findAll", "string_find_all_string", "list", ("string", "string"), _find_all),
        functions.member(
            "findAll", "string_find_all_string_int", "list", ("string", "string", "int"), _find_all
        ),
    ]
