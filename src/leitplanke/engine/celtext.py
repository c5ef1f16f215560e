"""CEL source as text: string literals and comments told apart from code, brackets matched,
and ``cel.bind`` rewritten so that it cannot read a stale value.

``compiling`` builds derived programs from policy expressions with these; nothing here
compiles or evaluates.
"""

from __future__ import annotations

import re

# a string literal: an optional r/b prefix (either order), then ''' """ ' or "; `raw` ones
# have no escapes. Comments run from // to the end of the line. Backticks quote field names.
_LITERAL = re.compile(
    r"""(?P<prefix>[rRbB]{0,2})(?P<quote>'''|\"\"\"|'|\")|(?P<comment>//)|(?P<backtick>`)"""
)
_IDENTIFIER_CHAR = re.compile(r"[A-Za-z0-9_]")
_BIND = re.compile(r"\bcel\s*\.\s*bind\s*\(")
_LAZY = re.compile(r"\b(?:bind|block)\b")
FILLER = "_"


def masked(source: str) -> str | None:
    """``source`` with the inside of every string literal and comment replaced by ``FILLER``
    (quotes kept, comments blanked), so brackets and names can be found by position; None if
    a literal is not closed."""
    out: list[str] = []
    at = 0
    while True:
        found = _LITERAL.search(source, at)
        if found is None:
            out.append(source[at:])
            return "".join(out)
        start = found.start()
        prefix = found["prefix"] or ""
        if prefix and start > 0 and _IDENTIFIER_CHAR.match(source[start - 1]):
            # the prefix letters end an identifier (`attr"x"` is not CEL): not a prefix
            start += len(prefix)
            prefix = ""
        if found["comment"]:
            end = source.find("\n", found.end())
            end = len(source) if end < 0 else end
            out.append(source[at:start] + " " * (end - start))
            at = end
            continue
        if found["backtick"]:
            end = source.find("`", found.end())
            if end < 0:
                return None
            out.append(source[at : found.end()] + FILLER * (end - found.end()) + "`")
            at = end + 1
            continue
        quote = found["quote"]
        raw = "r" in prefix.lower()
        end = _literal_end(source, found.end(), quote, raw=raw)
        if end < 0:
            return None
        body_start = found.end()
        out.append(source[at:body_start] + FILLER * (end - body_start) + quote)
        at = end + len(quote)


def _literal_end(source: str, at: int, quote: str, *, raw: bool) -> int:
    """Where the closing ``quote`` of a literal whose text starts at ``at`` is, or -1."""
    while at < len(source):
        if not raw and source[at] == "\\":
            at += 2
            continue
        if source.startswith(quote, at):
            return at
        if len(quote) == 1 and source[at] == "\n":
            return -1
        at += 1
    return -1


def closing(source: str, opening: int) -> int:
    """Index of the bracket that closes the one at ``opening``, literals skipped; -1 if none."""
    text = masked(source)
    return -1 if text is None else _closing(text, opening)


def _closing(text: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(text)):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return index
    return -1


def eager_binds(source: str) -> str | None:
    """``source`` with every ``cel.bind(name, value, body)`` as ``[value].map(name, body)[0]``,
    or None when that cannot be done for certain (a literal left open, a bind not written
    as ``cel.bind(…)`` with three arguments).

    The runtime initialises a bound name lazily, in a slot that a comprehension which
    stopped early may have left filled: ``[1, 2].exists(x, x == 1) && cel.bind(y, 5, y) == 5``
    is false. A comprehension sets its variable before each use, so the rewritten program
    reads no stale slot. The value is evaluated even when the body does not use it, so an
    error in it is the program's error where the bind would have ignored it: a caller
    treats an error as "evaluate the original instead".
    """
    text = masked(source)
    if text is None:
        return None
    return _rewritten(source, text)


def _rewritten(source: str, text: str) -> str | None:
    out: list[str] = []
    at = 0
    for found in _BIND.finditer(text):
        if found.start() < at:
            continue  # inside a bind already rewritten
        opening = found.end() - 1
        end = _closing(text, opening)
        arguments = _split(text, opening + 1, end) if end > 0 else None
        if arguments is None or len(arguments) != 3:
            return None
        (name_start, name_end), value, body = arguments
        name = source[name_start:name_end].strip()
        if not name.isidentifier():
            return None
        parts = [_rewritten(source[s:e], text[s:e]) for s, e in (value, body)]
        if parts[0] is None or parts[1] is None:
            return None
        out.append(source[at : found.start()])
        out.append(f"[{parts[0]}].map({name}, {parts[1]})[0]")
        at = end + 1
    out.append(source[at:])
    result = "".join(out)
    # every bind was rewritten: none is left in the code (names in literals do not count)
    leftover = masked(result)
    return None if leftover is None or _LAZY.search(leftover) else result


def _split(text: str, start: int, end: int) -> list[tuple[int, int]] | None:
    """The spans of the comma-separated arguments between ``start`` and ``end``."""
    spans = []
    depth = 0
    first = start
    for index in range(start, end):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            spans.append((first, index))
            first = index + 1
    spans.append((first, end))
    return spans
