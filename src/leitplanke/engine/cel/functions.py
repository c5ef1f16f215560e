"""Kubernetes' CEL list and set libraries, and the shape of every library declaration.

Pure Python, no CEL import: `engine.cel` registers the `declarations()` of this module,
`cel.quantities`, `cel.networks`, `cel.urls` and `cel.regexfunctions` with the runtime. An
implementation rejects a bad argument by raising exactly TypeError (the runtime makes it an
INVALID_ARGUMENT error value; a subclass would come out as UNKNOWN) or OverflowError
(OUT_OF_RANGE).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Literal

# "dyn" is only a result kind: the runtime dispatches on the concrete kind of every argument,
# so a "dyn" parameter would never match.
Kind = Literal[
    "bool", "int", "uint", "double", "string", "bytes", "list", "map", "duration", "timestamp", "dyn"
]

_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_ELEMENT_KINDS: tuple[Kind, ...] = (
    "bool",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "list",
    "map",
    "duration",
    "timestamp",
)


@dataclass(frozen=True, slots=True)
class Declaration:
    """One overload of a CEL function implemented in Python."""

    function: str
    overload: str  # unique id, stable across releases
    result: Kind
    parameters: tuple[Kind, ...]  # the receiver first for a member function
    is_member: bool
    impl: Callable[..., Any]


def function(
    name: str, overload: str, result: Kind, parameters: tuple[Kind, ...], impl: Callable[..., Any]
) -> Declaration:
    return Declaration(name, overload, result, parameters, False, impl)


def member(
    name: str, overload: str, result: Kind, parameters: tuple[Kind, ...], impl: Callable[..., Any]
) -> Declaration:
    return Declaration(name, overload, result, parameters, True, impl)


def recognizer(parse: Callable[[str], object]) -> Callable[[str], bool]:
    """The `isX(string)` test that goes with a parser raising TypeError on bad input."""

    def recognizes(text: str) -> bool:
        try:
            parse(text)
        except TypeError:
            return False
        return True

    return recognizes


def unwrap(value: Any, marker: str, expected: str) -> str:
    """The text inside a marker map such as `{"__ip__": "10.0.0.1"}`, or TypeError."""
    text = value.get(marker) if isinstance(value, dict) else None
    if not isinstance(text, str):
        raise TypeError(f"expected {expected}")
    return text


def type_name(value: Any) -> str:
    """The CEL name of a plain value's type, for messages."""
    for kind, name in (
        (bool, "bool"),
        (int, "int"),
        (float, "double"),
        (str, "string"),
        ((bytes, bytearray), "bytes"),
        (list, "list"),
        (dict, "map"),
        (datetime, "timestamp"),
        (timedelta, "duration"),
    ):
        if isinstance(value, kind):
            return name
    return "null" if value is None else type(value).__name__


def cel_equal(left: Any, right: Any) -> bool:
    """CEL equality: numbers compare across int, uint and double; a bool never equals a number."""
    if isinstance(left, bool) or isinstance(right, bool):
        return type(left) is type(right) and left == right
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    if isinstance(left, bytes | bytearray) and isinstance(right, bytes | bytearray):
        return bytes(left) == bytes(right)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(cel_equal, left, right))
    if isinstance(left, dict) and isinstance(right, dict):
        return len(left) == len(right) and all(
            key in right and cel_equal(item, right[key]) for key, item in left.items()
        )
    return type(left) is type(right) and bool(left == right)


# --- lists -----------------------------------------------------------------------------


def _ordering_class(value: Any) -> type:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int | float):
        return float  # ints and doubles compare with each other
    if isinstance(value, bytes | bytearray):
        return bytes
    for kind in (str, datetime, timedelta):
        if isinstance(value, kind):
            return kind
    raise TypeError(f"{type_name(value)} values cannot be ordered")


def _check_ordered(items: list[Any], name: str) -> None:
    if len({_ordering_class(item) for item in items}) > 1:
        raise TypeError(f"{name}() needs list elements of one comparable type")


def _is_sorted(items: list[Any]) -> bool:
    _check_ordered(items, "isSorted")
    return all(not previous > following for previous, following in pairwise(items))


def _sum(items: list[Any]) -> int | float:
    kinds = {type(item) for item in items}
    if kinds == {timedelta}:
        raise TypeError("sum() of durations is not supported")
    if not kinds <= {int} and not kinds <= {float}:
        raise TypeError("sum() needs a list of ints or a list of doubles")
    total: int | float = sum(items)
    if isinstance(total, int) and not _INT64_MIN <= total <= _INT64_MAX:
        raise OverflowError("integer overflow")
    return total


def _extreme(items: list[Any], name: str, pick: Callable[[list[Any]], Any]) -> Any:
    if not items:
        raise TypeError(f"{name} called on empty list")
    _check_ordered(items, name)
    if isinstance(items[0], datetime | timedelta):
        raise TypeError(f"{name}() of timestamps or durations is not supported")
    result = pick(items)
    return bytes(result) if isinstance(result, bytearray) else result


def _min(items: list[Any]) -> Any:
    return _extreme(items, "min", min)


def _max(items: list[Any]) -> Any:
    return _extreme(items, "max", max)


def _index_of(items: list[Any], wanted: Any) -> int:
    return next((index for index, item in enumerate(items) if cel_equal(item, wanted)), -1)


def _last_index_of(items: list[Any], wanted: Any) -> int:
    for index in range(len(items) - 1, -1, -1):
        if cel_equal(items[index], wanted):
            return index
    return -1


# --- sets (cel-go's ext.Sets, enabled by Kubernetes) ------------------------------------


def _contains_all(items: Sequence[Any], wanted: Sequence[Any]) -> bool:
    return all(any(cel_equal(item, one) for item in items) for one in wanted)


def _sets_equivalent(left: list[Any], right: list[Any]) -> bool:
    return _contains_all(left, right) and _contains_all(right, left)


def _sets_intersects(left: list[Any], right: list[Any]) -> bool:
    return any(any(cel_equal(item, one) for item in right) for one in left)


# --- two-variable comprehensions --------------------------------------------------------
# The runtime expands transformMap and transformMapEntry but cannot run the map insertion
# they expand to; ``cel.rewriting`` writes them as transformList followed by these.

MAP_OF_PAIRS = "leitplankeMapOfPairs"
MAP_OF_ENTRIES = "leitplankeMapOfEntries"


def _map_of_pairs(pairs: list[list[Any]]) -> dict[Any, Any]:
    return {key: value for key, value in pairs}


def _map_of_entries(entries: list[dict[Any, Any]]) -> dict[Any, Any]:
    merged: dict[Any, Any] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            raise TypeError(f"transformMapEntry needs a map per element, got {type_name(entry)}")
        for key, value in entry.items():
            if key in merged:
                raise TypeError(f"insert failed: key {key} already exists")
            merged[key] = value
    return merged


def declarations() -> list[Declaration]:
    return [
        member("isSorted", "list_is_sorted", "bool", ("list",), _is_sorted),
        member("sum", "list_sum", "dyn", ("list",), _sum),
        member("min", "list_min", "dyn", ("list",), _min),
        member("max", "list_max", "dyn", ("list",), _max),
        *(
            member("indexOf", f"list_index_of_{kind}", "int", ("list", kind), _index_of)
            for kind in _ELEMENT_KINDS
        ),
        *(
            member("lastIndexOf", f"list_last_index_of_{kind}", "int", ("list", kind), _last_index_of)
            for kind in _ELEMENT_KINDS
        ),
        function("sets.contains", "list_sets_contains_list", "bool", ("list", "list"), _contains_all),
        function("sets.equivalent", "list_sets_equivalent_list", "bool", ("list", "list"), _sets_equivalent),
        function("sets.intersects", "list_sets_intersects_list", "bool", ("list", "list"), _sets_intersects),
        member(MAP_OF_PAIRS, "leitplanke_map_of_pairs", "map", ("list",), _map_of_pairs),
        member(MAP_OF_ENTRIES, "leitplanke_map_of_entries", "map", ("list",), _map_of_entries),
    ]
