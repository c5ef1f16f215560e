"""Regular expressions with RE2's meaning and linear time: the only module that imports ``re2``.

CEL's ``find``/``findAll`` (``cel.functions``), Kyverno's regex functions and wildcards
(``compat.kyverno*``) and Gatekeeper suites' message filters call it. Errors come out as
``PatternError``, worded as Go's ``regexp`` words them (Kubernetes and Kyverno are Go).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import re2

from leitplanke.core import problems

# RE2's error codes (re2/regexp.cc) in the words of Go's regexp/syntax, which Kubernetes shows
_GO_WORDS = {
    "invalid escape sequence": "invalid escape sequence",
    "invalid character class range": "invalid character class range",
    "invalid character class": "invalid character class",
    "missing ]": "missing closing ]",
    "missing )": "missing closing )",
    "unexpected )": "unexpected )",
    "trailing \\": "trailing backslash at end of expression",
    "no argument for repetition operator": "missing argument to repetition operator",
    "invalid repetition size": "invalid repeat count",
    "bad repetition operator": "invalid nested repetition operator",
    "invalid perl operator": "invalid or unsupported Perl syntax",
    "invalid UTF-8": "invalid UTF-8",
    "invalid named capture group": "invalid named capture",
    "pattern too large": "expression too large",
}
_CACHE_SIZE = 1024


class PatternError(problems.LeitplankeError, ValueError):
    """A pattern RE2 rejects; the message is Go's: ``error parsing regexp: <what>: `<where>```."""

    code = "regex"


def check(pattern: str) -> PatternError | None:
    """The error ``pattern`` has, or None: for checking a constant pattern before any input."""
    try:
        _compiled(pattern)
    except PatternError as exc:
        return exc
    return None


def search(pattern: str, text: str) -> bool:
    """Does ``pattern`` match anywhere in ``text`` (Go's ``MatchString``)."""
    return _compiled(pattern).search(text) is not None


def full_match(pattern: str, text: str) -> bool:
    """Does ``pattern`` match the whole of ``text``."""
    return _compiled(pattern).fullmatch(text) is not None


def find(pattern: str, text: str) -> str:
    """The leftmost match, or "" (Go's ``FindString``)."""
    found = _compiled(pattern).search(text)
    return "" if found is None else str(found.group())


def find_all(pattern: str, text: str, *, limit: int = -1) -> list[str]:
    """Successive matches, at most ``limit`` of them when it is not negative (Go's ``FindAllString``:
    an empty match right after the previous match does not count)."""
    found: list[str] = []
    if limit == 0:
        return found
    for match in _matches(pattern, text):
        found.append(str(match.group()))
        if len(found) == limit:
            break
    return found


def replace_all(pattern: str, text: str, template: str) -> str:
    """Every match replaced by ``template`` with ``$1``, ``${1}``, ``$name`` and ``$$`` expanded
    (Go's ``ReplaceAllString``)."""
    return _replaced(pattern, text, lambda match: _expand(template, match))


def replace_all_literal(pattern: str, text: str, replacement: str) -> str:
    """Every match replaced by ``replacement`` as it is (Go's ``ReplaceAllLiteralString``)."""
    return _replaced(pattern, text, lambda _match: replacement)


def escape(text: str) -> str:
    """``text`` as a pattern that matches exactly it."""
    return str(re2.escape(text))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compiled(pattern: str) -> Any:
    options = re2.Options()
    options.log_errors = False  # the error is ours to report, not RE2's to print on stderr
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        raise PatternError(_go_message(exc, pattern)) from exc
    except (TypeError, UnicodeEncodeError) as exc:  # a lone surrogate cannot be UTF-8
        raise PatternError("error parsing regexp: invalid UTF-8") from exc


def _go_message(exc: Exception, pattern: str) -> str:
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    for words, go_words in _GO_WORDS.items():
        if text.startswith(words):
            where = pattern if words == "pattern too large" else text[len(words) :].removeprefix(": ")
            return f"error parsing regexp: {go_words}: `{where}`"
    return f"error parsing regexp: {text}"


def _matches(pattern: str, text: str) -> Iterator[Any]:
    """Go's sequence of matches. The binding's ``finditer`` searches from the same positions as
    Go does but also yields an empty match found again where the previous match ended."""
    previous_end = -1
    for match in _compiled(pattern).finditer(text):
        start, end = match.span()
        if start == end == previous_end:
            continue
        previous_end = end
        yield match


def _replaced(pattern: str, text: str, replacement: Any) -> str:
    out: list[str] = []
    last_end = 0
    for match in _compiled(pattern).finditer(text):
        start, end = match.span()
        # no replacement for an empty match right after another match (Go's rule)
        if end > last_end or start == 0:
            out.append(text[last_end:start])
            out.append(replacement(match))
            last_end = end
    out.append(text[last_end:])
    return "".join(out)


def _expand(template: str, match: Any) -> str:
    out: list[str] = []
    at = 0
    while (dollar := template.find("$", at)) >= 0:
        out.append(template[at:dollar])
        if template.startswith("$$", dollar):
            out.append("$")
            at = dollar + 2
            continue
        name, after = _reference(template, dollar + 1)
        if name is None:  # malformed: the $ stays as text
            out.append("$")
            at = dollar + 1
            continue
        out.append(_group(match, name))
        at = after
    out.append(template[at:])
    return "".join(out)


def _reference(template: str, at: int) -> tuple[str | None, int]:
    """The group name after a ``$`` (``name`` or ``{name}``) and where the reference ends."""
    brace = template.startswith("{", at)
    start = end = at + 1 if brace else at
    while end < len(template) and (
        template[end].isalpha() or template[end].isdecimal() or template[end] == "_"
    ):
        end += 1
    if end == start:
        return None, at
    if brace:
        if not template.startswith("}", end):
            return None, at
        return template[start:end], end + 1
    return template[start:end], end


def _in_name(char: str) -> bool:
    return char.isalpha() or char.isdecimal() or char == "_"


def _group(match: Any, name: str) -> str:
    if name.isdecimal() and name.isascii() and not (name.startswith("0") and len(name) > 1):
        index = int(name)
        if index > len(match.groups()):
            return ""
        value = match.group(index)
    else:
        if name not in match.re.groupindex:
            return ""
        value = match.group(name)
    return "" if value is None else str(value)
