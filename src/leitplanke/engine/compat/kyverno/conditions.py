"""Kyverno conditions: ``any``/``all`` lists of key–operator–value checks.

Used for ``preconditions`` and ``deny.conditions`` by ``compat.kyverno.clusterpolicies``. Variables are
substituted leniently (an unresolvable reference reads as ``""``), as Kyverno does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from leitplanke.engine.compat.kyverno import patterns, scalars, substituting

OPERATORS = (
    "Equals", "NotEquals", "Equal", "NotEqual", "In", "NotIn", "AnyIn", "AllIn", "AnyNotIn", "AllNotIn",
    "GreaterThan", "GreaterThanOrEquals", "LessThan", "LessThanOrEquals", "DurationGreaterThan",
    "DurationGreaterThanOrEquals", "DurationLessThan", "DurationLessThanOrEquals",
)  # fmt: skip


class ConditionError(Exception):
    """A condition that cannot be evaluated (an unknown operator)."""


def evaluate(conditions: Any, data: Mapping[str, Any]) -> bool:
    """True when the conditions hold. A plain list means ``all``; ``any: []`` never holds."""
    if conditions is None:
        return True
    if isinstance(conditions, list):
        return all(_one(c, data) for c in conditions)
    if not isinstance(conditions, Mapping):
        raise ConditionError("conditions must be a list or a mapping with any/all")
    any_part, all_part = conditions.get("any"), conditions.get("all")
    any_ok = True if any_part is None else any(_one(c, data) for c in any_part)
    all_ok = True if all_part is None else all(_one(c, data) for c in all_part)
    return any_ok and all_ok


def _one(condition: Any, data: Mapping[str, Any]) -> bool:
    if not isinstance(condition, Mapping):
        raise ConditionError("a condition must be a mapping")
    operator = str(condition.get("operator", ""))
    handler = _HANDLERS.get(operator)
    if handler is None:
        raise ConditionError(f"unknown condition operator {operator!r}")
    key = substituting.substitute(condition.get("key"), data, lenient=True)
    value = substituting.substitute(condition.get("value"), data, lenient=True)
    return handler(key, value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if value is None:
        return ""
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def equals(key: Any, value: Any) -> bool:
    if isinstance(key, bool) or isinstance(value, bool):
        if isinstance(key, bool) and isinstance(value, bool):
            return key == value
        if isinstance(key, bool) and isinstance(value, str):
            return _text(key) == value
        return isinstance(value, bool) and isinstance(key, str) and key == _text(value)
    if isinstance(key, int | float):
        if isinstance(value, int | float):
            return float(key) == float(value)
        if isinstance(value, str):
            return _text(key) == value or _numbers_equal(_text(key), value)
        return False
    if isinstance(key, str):
        if isinstance(value, int | float):
            return key == _text(value) or _numbers_equal(key, _text(value))
        if isinstance(value, str):
            return _strings_equal(key, value)
        return False
    if isinstance(key, Mapping | list) or key is None:
        return bool(key == value)
    return False


def _numbers_equal(a: str, b: str) -> bool:
    qa, qb = scalars.parse_quantity(a), scalars.parse_quantity(b)
    return qa is not None and qb is not None and qa == qb


def _strings_equal(key: str, value: str) -> bool:
    da, db = scalars.parse_duration(key), scalars.parse_duration(value)
    if da is not None and db is not None:
        return da == db
    qa, qb = scalars.parse_quantity(key), scalars.parse_quantity(value)
    if qa is not None and qb is not None:
        return qa == qb
    return scalars.wildcard_match(value, key)


def _as_list(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return None
        return parsed if isinstance(parsed, list) else None
    return None


def _member(item: Any, value: Any) -> bool:
    """Is ``item`` in ``value`` (a list, a JSON list or a wildcard string), wildcards both ways."""
    key = _text(item)
    values = _as_list(value)
    if values is None:
        if isinstance(value, str):
            ranged = _in_range(key, value)
            if ranged is not None:
                return ranged
            return scalars.wildcard_match(value, key)
        return False
    for candidate in values:
        text = _text(candidate)
        if scalars.wildcard_match(text, key) or scalars.wildcard_match(key, text):
            return True
    return False


def _in_range(key: str, value: str) -> bool | None:
    low, dash, high = value.partition("-")
    if not dash:
        return None
    try:
        number, lo, hi = float(key), float(low), float(high)
    except ValueError:
        return None
    return lo <= number <= hi


def _keys(key: Any) -> list[Any]:
    if isinstance(key, list):
        return key
    listed = _as_list(key) if isinstance(key, str) and key.startswith("[") else None
    return listed if listed is not None else [key]


def _in(key: Any, value: Any) -> bool:
    return all(_member(k, value) for k in _keys(key))


def _any_in(key: Any, value: Any) -> bool:
    return any(_member(k, value) for k in _keys(key))


def _any_not_in(key: Any, value: Any) -> bool:
    return any(not _member(k, value) for k in _keys(key))


def _all_not_in(key: Any, value: Any) -> bool:
    return all(not _member(k, value) for k in _keys(key))


def _ordered(op: str, *, durations_only: bool = False) -> Callable[[Any, Any], bool]:
    def check(key: Any, value: Any) -> bool:
        pair = _comparable(key, value, durations_only=durations_only)
        if pair is None:
            return False
        return patterns.compare(pair[0], pair[1], op)

    return check


def _comparable(key: Any, value: Any, *, durations_only: bool) -> tuple[Any, Any] | None:
    if isinstance(key, bool) or isinstance(value, bool):
        return None
    if durations_only:
        a, b = _seconds(key), _seconds(value)
        return None if a is None or b is None else (a, b)
    if isinstance(key, int | float) and isinstance(value, int | float):
        return float(key), float(value)
    ka, va = _text(key), _text(value)
    da, db = scalars.parse_duration(ka), scalars.parse_duration(va)
    if da is not None and db is not None:
        return da, db
    qa, qb = scalars.parse_quantity(ka), scalars.parse_quantity(va)
    if qa is not None and qb is not None:
        return qa, qb
    sa, sb = scalars.parse_version(ka), scalars.parse_version(va)
    if sa is not None and sb is not None and ka.count(".") >= 1:
        return sa, sb
    return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return scalars.parse_duration(value)
    return None


_HANDLERS: dict[str, Callable[[Any, Any], bool]] = {
    "Equals": equals,
    "Equal": equals,
    "NotEquals": lambda k, v: not equals(k, v),
    "NotEqual": lambda k, v: not equals(k, v),
    "In": _in,
    "NotIn": lambda k, v: not _in(k, v),
    "AnyIn": _any_in,
    "AllIn": _in,
    "AnyNotIn": _any_not_in,
    "AllNotIn": _all_not_in,
    "GreaterThan": _ordered(">"),
    "GreaterThanOrEquals": _ordered(">="),
    "LessThan": _ordered("<"),
    "LessThanOrEquals": _ordered("<="),
    "DurationGreaterThan": _ordered(">", durations_only=True),
    "DurationGreaterThanOrEquals": _ordered(">=", durations_only=True),
    "DurationLessThan": _ordered("<", durations_only=True),
    "DurationLessThanOrEquals": _ordered("<=", durations_only=True),
}
