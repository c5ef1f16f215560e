"""Kyverno validate patterns: anchors, wildcards and value operators, checked against a resource.

``match_pattern`` returns a ``PatternOutcome`` (pass, fail with a path, or skip when a
conditional or global anchor does not hold). Called by ``compat.kyverno.clusterpolicies`` for
``pattern``/``anyPattern``; the scalar helpers also serve ``kyverno.conditions``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from leitplanke.engine.compat.kyverno import scalars

_NUMBER_PART = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+))(.*)$")
_RANGE = re.compile(r"^(-?[\d.]+[A-Za-z]*)(!?-)(-?[\d.]+[A-Za-z]*)$")
_OPERATORS = (">=", "<=", ">", "<", "!")


@dataclass(frozen=True, slots=True)
class PatternOutcome:
    verdict: str  # pass | fail | skip
    message: str = ""
    path: str = ""


_PASS = PatternOutcome("pass")


def number_text(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    return None


def compare(a: Decimal | float, b: Decimal | float, op: str) -> bool:
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == "!":
        return a != b
    return a == b


def value_matches(value: Any, pattern: Any) -> bool:
    """Kyverno's scalar check of a resource value against a pattern value."""
    if isinstance(pattern, bool):
        return isinstance(value, bool) and value == pattern
    if isinstance(pattern, int | float):
        return _number_matches(value, pattern)
    if isinstance(pattern, str):
        return _string_patterns(value, pattern)
    if pattern is None:
        return value in (None, "", 0, False) and not isinstance(value, Mapping | list)
    return False


def _number_matches(value: Any, pattern: float) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return float(value) == float(pattern)
    if isinstance(value, str):
        try:
            return float(value) == float(pattern) and (isinstance(pattern, float) or "." not in value)
        except ValueError:
            return False
    return False


def _string_patterns(value: Any, pattern: str) -> bool:
    if value == pattern:
        return True
    for alternative in pattern.split("|"):
        if all(_string_pattern(value, part.strip()) for part in alternative.strip().split("&")):
            return True
    return False


def _string_pattern(value: Any, pattern: str) -> bool:
    ranged = _RANGE.match(pattern)
    if ranged is not None:
        low, kind, high = ranged[1], ranged[2], ranged[3]
        if kind == "-":
            return _string_pattern(value, f">={low}") and _string_pattern(value, f"<={high}")
        return _string_pattern(value, f"<{low}") or _string_pattern(value, f">{high}")
    op = next((o for o in _OPERATORS if pattern.startswith(o)), "")
    operand = pattern[len(op) :].strip()
    if _NUMBER_PART.match(operand) is None:
        return _string_compare(value, operand, op)
    return _number_compare(value, operand, op)


def _string_compare(value: Any, pattern: str, op: str) -> bool:
    if op not in ("", "!"):
        return False  # ordering operators do not apply to strings
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float | str):
        text = number_text(value) or ""
    else:
        return False
    found = scalars.wildcard_match(pattern, text)
    return not found if op == "!" else found


def _number_compare(value: Any, pattern: str, op: str) -> bool:
    text = number_text(value)
    if text is None:
        return False
    wanted_duration = scalars.parse_duration(pattern)
    actual_duration = scalars.parse_duration(text)
    if wanted_duration is not None and actual_duration is not None:
        return compare(actual_duration, wanted_duration, op)
    wanted = scalars.parse_quantity(pattern)
    if wanted is not None:
        actual = scalars.parse_quantity(text)
        return actual is not None and compare(actual, wanted, op)
    return _string_compare(value, pattern, op)


# --- the pattern walk -------------------------------------------------------------------------

_ANCHOR = re.compile(r"^(\(|=\(|X\(|\^\(|<\(|\+\()(.+)\)$")


def split_anchor(key: str) -> tuple[str, str]:
    """``(name)`` → ("(", "name"); plain keys → ("", key)."""
    found = _ANCHOR.match(key)
    if found is None:
        return "", key
    return found[1], found[2]


class _Skip(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _Fail(Exception):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def match_pattern(resource: Any, pattern: Any) -> PatternOutcome:
    """Check ``resource`` against one Kyverno pattern."""
    try:
        _element(resource, pattern, "/")
    except _Skip as skip:
        return PatternOutcome("skip", skip.message)
    except _Fail as fail:
        return PatternOutcome("fail", fail.message, fail.path)
    return _PASS


def _element(resource: Any, pattern: Any, path: str) -> None:
    if isinstance(pattern, Mapping):
        if not isinstance(resource, Mapping):
            raise _Fail(f"pattern and resource have different structures at {path}", path)
        _map(resource, pattern, path)
    elif isinstance(pattern, list):
        if not isinstance(resource, list):
            raise _Fail(f"pattern and resource have different structures at {path}", path)
        _array(resource, pattern, path)
    elif isinstance(resource, list):
        # a scalar pattern over an array holds for every element (an empty array passes)
        if not all(value_matches(element, pattern) for element in resource):
            raise _Fail(f"validation error at {path}: expected {pattern!r}, found {resource!r}", path)
    elif not value_matches(resource, pattern):
        raise _Fail(f"validation error at {path}: expected {pattern!r}, found {resource!r}", path)


def _expand_wildcard_keys(resource: Mapping[str, Any], pattern: Mapping[str, Any]) -> dict[str, Any]:
    expanded: dict[str, Any] = {}
    for key, value in pattern.items():
        anchor, name = split_anchor(key)
        if ("*" in name or "?" in name) and anchor in ("", "=(", "(", "X(", "^(", "<("):
            hits = [k for k in resource if isinstance(k, str) and scalars.wildcard_match(name, k)]
            if hits:
                for hit in hits:
                    expanded[f"{anchor}{hit})" if anchor else hit] = value
                continue
            if anchor:
                continue  # an anchored wildcard key with no match constrains nothing
        expanded[key] = value
    return expanded


def _contains_anchor(pattern: Any, anchors: tuple[str, ...]) -> bool:
    if isinstance(pattern, Mapping):
        return any(
            split_anchor(str(k))[0] in anchors or _contains_anchor(v, anchors) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return any(_contains_anchor(v, anchors) for v in pattern)
    return False


def _map(resource: Mapping[str, Any], pattern: Mapping[str, Any], path: str) -> None:
    pattern = _expand_wildcard_keys(resource, pattern)
    anchored = sorted((k for k in pattern if split_anchor(k)[0]), key=lambda k: split_anchor(k)[1])
    for key in anchored:
        _anchored(resource, key, pattern[key], path)
    plain = [k for k in pattern if not split_anchor(k)[0]]
    # keys whose subtree holds conditional or global anchors first: they may skip the rule
    plain.sort(key=lambda k: 0 if _contains_anchor(pattern[k], ("(", "<(")) else 1)
    for key in plain:
        value = pattern[key]
        here = f"{path}{key}/"
        if value == "*":
            if resource.get(key) is None:
                raise _Fail(f"{path}{key} not found", path)
            continue
        _element(resource.get(key), value, here)


def _anchored(resource: Mapping[str, Any], key: str, value: Any, path: str) -> None:
    anchor, name = split_anchor(key)
    here = f"{path}{name}/"
    present = name in resource
    if anchor == "(":
        if not present:
            raise _Skip(f"conditional anchor key {here} does not exist in the resource")
        try:
            _element(resource[name], value, here)
        except (_Fail, _Skip) as exc:
            raise _Skip(f"conditional anchor mismatch at {here}: {exc.message}") from None
    elif anchor == "<(":
        if present:
            try:
                _element(resource[name], value, here)
            except (_Fail, _Skip) as exc:
                raise _Skip(f"global anchor mismatch at {here}: {exc.message}") from None
    elif anchor == "X(":
        if present:
            raise _Fail(f"{here} is not allowed", here)
    elif anchor in ("=(", "+(") and present:
        _element(resource[name], value, here)
    elif anchor == "^(" and present:
        _existence(resource[name], value, here)


def _existence(resource: Any, pattern: Any, path: str) -> None:
    if not isinstance(resource, list):
        raise _Fail(f"existence anchor at {path} applies only to lists", path)
    if not isinstance(pattern, list):
        raise _Fail(f"existence anchor pattern at {path} must be a list", path)
    for item in pattern:
        if not isinstance(item, Mapping):
            raise _Fail(f"existence anchor pattern at {path} must hold maps", path)
        if not any(_holds(element, item, f"{path}{i}/") for i, element in enumerate(resource)):
            raise _Fail(f"existence anchor validation failed at {path}", path)


def _holds(resource: Any, pattern: Any, path: str) -> bool:
    try:
        _element(resource, pattern, path)
    except (_Fail, _Skip):
        return False
    return True


def _array(resource: list[Any], pattern: list[Any], path: str) -> None:
    if not pattern:
        raise _Fail(f"empty pattern array at {path}", path)
    first = pattern[0]
    if isinstance(first, Mapping):
        applied, skips = 0, []
        for index, element in enumerate(resource):
            try:
                _element(element, first, f"{path}{index}/")
            except _Skip as skip:
                skips.append(skip.message)
                continue
            applied += 1
        if applied == 0 and skips:
            raise _Skip("; ".join(skips))
        return
    if len(resource) < len(pattern):
        raise _Fail(f"array length mismatch at {path}", path)
    for index, item in enumerate(pattern):
        _element(resource[index], item, f"{path}{index}/")
