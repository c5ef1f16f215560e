"""Kyverno's scalar values: wildcards, quantities, Go durations and semantic versions.

Shared by the pattern walk (``kyverno.patterns``), conditions (``kyverno.conditions``), the
JMESPath functions (``kyverno.substituting``) and matching: each meaning is written once, here.
Quantities are the CEL library's (``cel.quantities``), as Kyverno and Kubernetes share one.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable

import semver

from leitplanke.engine import regexes
from leitplanke.engine.cel import quantities

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# blang/semver's range comparators (Kyverno's semver_compare)
_COMPARATORS: dict[str, Callable[[semver.Version, semver.Version], bool]] = {
    "": operator.eq,
    "=": operator.eq,
    "==": operator.eq,
    "!": operator.ne,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}

Check = tuple[Callable[[semver.Version, semver.Version], bool], semver.Version]


# --- wildcards -----------------------------------------------------------------------------


def wildcard_match(pattern: str, text: str) -> bool:
    """Kyverno's wildcard match: ``*`` any run of characters, ``?`` exactly one."""
    if "*" not in pattern and "?" not in pattern:
        return pattern == text
    return regexes.full_match(_wildcard_regex(pattern), text)


@functools.lru_cache(maxsize=4096)
def _wildcard_regex(pattern: str) -> str:
    return "(?s)" + "".join("." if c == "?" else ".*" if c == "*" else regexes.escape(c) for c in pattern)


# --- quantities and durations ---------------------------------------------------------------


def parse_quantity(text: str) -> int | None:
    """A Kubernetes quantity (``500m``, ``1Gi``, ``1e3``) in nano-units, or None."""
    try:
        return quantities.parse_quantity(text.strip())
    except TypeError:
        return None


def quantity_number(nanos: int) -> float:
    """A quantity's value as a plain number (``500m`` is 0.5)."""
    return nanos / 1_000_000_000


def parse_duration(text: str) -> float | None:
    """Seconds of a Go duration (``1h30m``, ``-5s``), or None."""
    body = text.strip()
    sign = -1.0 if body.startswith("-") else 1.0
    body = body.lstrip("+-")
    if body == "0":
        return 0.0
    if not body:
        return None
    total, position = 0.0, 0
    for part in _DURATION_PART.finditer(body):
        if part.start() != position:
            return None
        total += float(part[1]) * _UNITS[part[2]]
        position = part.end()
    return sign * total if position == len(body) and position else None


def render_duration(seconds: float) -> str:
    """A Go-style duration text (``1h0m0s``)."""
    sign = "-" if seconds < 0 else ""
    rest = abs(seconds)
    hours, rest = divmod(rest, 3600)
    minutes, rest = divmod(rest, 60)
    secs = f"{rest:g}"
    if hours:
        return f"{sign}{int(hours)}h{int(minutes)}m{secs}s"
    if minutes:
        return f"{sign}{int(minutes)}m{secs}s"
    return f"{sign}{secs}s"


# --- semantic versions ----------------------------------------------------------------------


def parse_version(text: str) -> semver.Version | None:
    """A version read leniently, as Kyverno's operators read one (blang's ``ParseTolerant``):
    spaces and a leading ``v`` dropped, a missing minor or patch taken as 0."""
    body = text.strip().removeprefix("v")
    parts = body.split(".", 2)
    if len(parts) < 3 and any(c in parts[-1] for c in "+-"):
        return None
    try:
        return semver.Version.parse(body, optional_minor_and_patch=True)
    except ValueError:
        return None


def semver_satisfies(version: str, constraint: str) -> bool:
    """Kyverno's ``semver_compare``: does ``version`` fall in the blang/semver range
    ``constraint`` (``>1.0.0 <2.0.0 || >=3.0.0``, ``1.2.x``). A version that does not parse
    counts as 0.0.0, as in Kyverno; a range that does not parse raises ValueError."""
    try:
        actual = semver.Version.parse(version)
    except ValueError:
        actual = semver.Version(0, 0, 0)
    return any(all(check(actual, wanted) for check, wanted in part) for part in _parse_range(constraint))


@functools.lru_cache(maxsize=1024)
def _parse_range(constraint: str) -> tuple[tuple[Check, ...], ...]:
    alternatives: list[list[str]] = [[]]
    for token in _tokens(constraint):
        if token == "||":
            if not alternatives[-1]:
                raise ValueError(f"invalid semver range {constraint!r}: '||' without a comparator before it")
            alternatives.append([])
        else:
            alternatives[-1].append(token)
    if not alternatives[-1]:
        raise ValueError(f"invalid semver range {constraint!r}: a comparator is missing")
    return tuple(
        tuple(_comparator(plain, constraint) for token in part for plain in _expanded(token, constraint))
        for part in alternatives
    )


def _tokens(constraint: str) -> list[str]:
    """blang's split: at spaces, except right after an operator (``>= 1.0.0`` is one token)."""
    tokens: list[str] = []
    current, last = "", ""
    for char in constraint:
        if char == " " and last not in (">", "<", "="):
            if current:
                tokens.append(current)
            current = ""
        elif char != " ":
            current += char
            last = char
    if current:
        tokens.append(current)
    return tokens


def _split_comparator(token: str, constraint: str) -> tuple[str, str]:
    digit = next((i for i, c in enumerate(token) if c.isdigit()), -1)
    if digit < 0:
        raise ValueError(f"invalid semver range {constraint!r}: no version in {token!r}")
    return token[:digit], token[digit:]


def _expanded(token: str, constraint: str) -> list[str]:
    """A wildcard comparator (``>1.x``, ``1.2.x``) as the plain comparators blang makes of it."""
    if "x" not in token:
        return [token]
    op, text = _split_comparator(token, constraint)
    parts = text.split(".")
    if parts[-1] != "x" or len(parts) not in (2, 3):
        raise ValueError(f"invalid semver range {constraint!r}: bad wildcard {token!r}")
    flat = text.replace(".x.x", ".x", 1).replace(".x", ".0", 1)
    flat = flat + ".0" if flat.count(".") == 1 else flat
    major, minor, _ = (int(p) for p in flat.split("."))
    following = f"{major}.{minor + 1}.0" if len(parts) == 3 else f"{major + 1}.0.0"
    expansions = {
        ">": [f">={following}"],
        ">=": [f">={flat}"],
        "<": [f"<{flat}"],
        "<=": [f"<{following}"],
        "": [f">={flat}", f"<{following}"],
        "=": [f">={flat}", f"<{following}"],
        "==": [f">={flat}", f"<{following}"],
        "!": [f"<{flat}", f">={following}"],
        "!=": [f"<{flat}", f">={following}"],
    }
    if op not in expansions:
        raise ValueError(f"invalid semver range {constraint!r}: unknown operator {op!r}")
    return expansions[op]


def _comparator(token: str, constraint: str) -> Check:
    op, text = _split_comparator(token, constraint)
    if op not in _COMPARATORS:
        raise ValueError(f"invalid semver range {constraint!r}: unknown operator {op!r}")
    try:
        return _COMPARATORS[op], semver.Version.parse(text)
    except ValueError:
        raise ValueError(f"invalid semver range {constraint!r}: {text!r} is not a version") from None
