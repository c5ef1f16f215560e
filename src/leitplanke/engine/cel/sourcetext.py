"""CEL source as text: string literals and comments told apart from code, brackets matched,
and ``cel.bind`` rewritten so that it cannot read a stale value.

``compiling`` builds derived programs from policy expressions with these; nothing here
compiles or evaluates.
"""

from __future__ import annotations

import re

# where a literal or comment may start: a quote, a backtick, //
_SPECIAL = re.compile(r"['\"`]|//")
# the rest of a literal after its opening quote, by (quote, raw): raw ones have no escapes, and
# only triple-quoted ones may span lines
_REST = {
    ("'", False): re.compile(r"(?:[^'\\\n]|\\.)*'"),
    ('"', False): re.compile(r'(?:[^"\\\n]|\\.)*"'),
    ("'''", False): re.compile(r"(?:[^\\]|\\[\s\S])*?'{3}"),
    ('"""', False): re.compile(r'(?:[^\\]|\\[\s\S])*?"{3}'),
    ("'", True): re.compile(r"[^'\n]*'"),
    ('"', True): re.compile(r'[^"\n]*"'),
    ("'''", True): re.compile(r"[\s\S]*?'{3}"),
    ('"""', True): re.compile(r'[\s\S]*?"{3}'),
}
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
        found = _SPECIAL.search(source, at)
        if found is None:
            out.append(source[at:])
            return "".join(out)
        start, token = found.start(), found[0]
        if token == "//":
            end = source.find("\n", start)
            end = len(source) if end < 0 else end
            out.append(source[at:start] + " " * (end - start))
            at = end
            continue
        if token == "`":  # a field name
            end = source.find("`", start + 1)
            if end < 0 or "\n" in source[start:end]:
                return None
            out.append(source[at : start + 1] + FILLER * (end - start - 1) + "`")
            at = end + 1
            continue
        quote = token * 3 if source.startswith(token * 3, start) else token
        # r, b, rb, br (any case) right before the quote: a prefix (CEL has no identifier there)
        letters = start
        while letters > at and start - letters < 2 and source[letters - 1] in "rRbB":
            letters -= 1
        raw = "r" in source[letters:start].lower()
        opened = start + len(quote)
        rest = _REST[(quote, raw)].match(source, opened)
        if rest is None:
            return None
        closed = rest.end() - len(quote)
        out.append(source[at:opened] + FILLER * (closed - opened) + quote)
        at = rest.end()


def closing(source: str, opening: int) -> int:
    """Index of the bracket that closes the one at ``opening``, literals skipped; -1 if none."""
    text = masked(source)
    return -1 if text is None else closing_masked(text, opening)


def closing_masked(text: str, opening: int) -> int:
    """``closing`` for text already ``masked``."""
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


def eager_binds(source: str, *, text: str | None = None) -> str | None:
    """``source`` with every ``cel.bind(name, value, body)`` as ``[value].map(name, body)[0]``,
    or None when that cannot be done for certain (a literal left open, a bind not written
    as ``cel.bind(…)`` with three arguments, a name ``bind`` or ``block`` used otherwise).
    ``text``: ``masked(source)``, when the caller has it.

    The runtime initialises a bound name lazily, in a slot that a comprehension which
    stopped early may have left filled: ``[1, 2].exists(x, x == 1) && cel.bind(y, 5, y) == 5``
    is false. A comprehension sets its variable before each use, so the rewritten program
    reads no stale slot. The value is evaluated even when the body does not use it, so an
    error in it is the program's error where the bind would have ignored it: a caller
    treats an error as "evaluate the original instead".
    """
    text = masked(source) if text is None else text
    if text is None:
        return None
    # every `bind` or `block` in the code must be a `cel.bind(` that is rewritten
    if len(_LAZY.findall(text)) != len(_BIND.findall(text)):
        return None
    return _rewritten(source, text)


def _rewritten(source: str, text: str) -> str | None:
    out: list[str] = []
    at = 0
    for found in _BIND.finditer(text):
        if found.start() < at:
            continue  # inside a bind already rewritten
        opening = found.end() - 1
        end = closing_masked(text, opening)
        arguments = argument_spans(text, opening + 1, end) if end > 0 else []
        if len(arguments) != 3:
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
    return "".join(out)


def argument_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
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
