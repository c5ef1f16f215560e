"""The CEL runtime's messages as leitplanke reports them: a compile problem with its place (``CelIssue``,
from ``parse_issue``), an error value met while evaluating (``CelFailure``), and runtime text made stable
across runs (``clean``: no object addresses, no status suffixes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LOCATION = re.compile(r"ERROR: <input>:(-?\d+):(-?\d+): ")
_STATUS = re.compile(r"^[A-Z_]+: ")
_STATUS_SUFFIX = re.compile(r" \[[A-Z_]+\]$")
_FUNCTION_REPR = re.compile(r"'Python function '<function (\S+) at 0x[0-9a-f]+>''")


@dataclass(frozen=True, slots=True)
class CelIssue:
    """A problem found while compiling: a syntax error, an undeclared name, a type mismatch.

    `line` and `column` are 1-based, in characters, within the expression source; a problem
    the runtime reports without a place (nesting too deep) is put at 1:1.
    """

    message: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class CelFailure:
    """An error value produced while evaluating: a missing key, a division by zero, a bad quantity."""

    message: str


def parse_issue(text: str) -> CelIssue:
    """The first problem of a compile error message, with its place."""
    text = _STATUS_SUFFIX.sub("", text)
    located = _LOCATION.search(text)
    if located is None:
        return CelIssue(_STATUS.sub("", text), 1, 1)
    message = text[located.end() :].split("\n", 1)[0].replace(" (in container '')", "")
    return CelIssue(message, max(int(located[1]), 1), max(int(located[2]), 1))


def clean(message: str) -> str:
    """Drop what makes runtime messages unstable across runs: object addresses, status suffixes."""
    return _STATUS_SUFFIX.sub("", _FUNCTION_REPR.sub(r"function '\1'", message))
