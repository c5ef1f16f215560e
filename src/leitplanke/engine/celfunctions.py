"""Kubernetes' CEL list, set and regex libraries, and the shape of every library declaration.

Pure Python, no CEL import: `engine.cel` registers the `declarations()` of this module,
`celquantities`, `celnetworks` and `celurls` with the runtime. An implementation rejects a
bad argument by raising exactly TypeError (the runtime makes it an INVALID_ARGUMENT error
value; a subclass would come out as UNKNOWN) or OverflowError (OUT_OF_RANGE).
"""

from __future__ import annotations

import functools
import re
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


# --- regex -----------------------------------------------------------------------------

# RE2 names these classes; Python's `re` does not know them.
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": r"\x00-\x7f",
    "blank": r"\t ",
    "cntrl": r"\x00-\x1f\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": r"!-/:-@\[-`{-~",
    "space": r"\t\n\v\f\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}
_MULTILINE_FLAG = re.compile(r"\(\?[a-zA-Z]*m")


def _translate_re2(pattern: str) -> str:
    """Rewrite the RE2 constructs whose meaning differs in Python's `re`.

    `\\z` becomes `\\Z`; outside multi-line mode `$` means the end of the text, not
    "before a final newline"; `[[:alpha:]]`-style classes are spelled out.
    """
    end_of_text = r"$" if _MULTILINE_FLAG.search(pattern) else r"\Z"
    out: list[str] = []
    index, in_class, class_start = 0, False, 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index : index + 2]
            out.append(r"\Z" if escaped == r"\z" and not in_class else escaped)
            index += 2
            continue
        if in_class:
            closing = pattern.find(":]", index + 2) if pattern.startswith("[:", index) else -1
            if closing != -1 and pattern[index + 2 : closing] in _POSIX_CLASSES:
                out.append(_POSIX_CLASSES[pattern[index + 2 : closing]])
                index = closing + 2
                continue
            if char == "]" and index > class_start:
                in_class = False
        elif char == "[":
            in_class = True
            class_start = index + (2 if pattern.startswith("[^", index) else 1)
        elif char == "$":
            char = end_of_text
        out.append(char)
        index += 1
    return "".join(out)


@functools.lru_cache(maxsize=512)
def _compile_regex(pattern: str) -> re.Pattern[str]:
    try:
        # ASCII: RE2's \d, \w, \s and \b are ASCII-only
        return re.compile(_translate_re2(pattern), re.ASCII)
    except re.error as exc:
        raise TypeError(f"invalid regular expression {pattern!r}: {exc}") from exc


def _find(text: str, pattern: str) -> str:
    match = _compile_regex(pattern).search(text)
    return match.group() if match else ""


def _find_all(text: str, pattern: str, limit: int = -1) -> list[str]:
    """Go's FindAllString: an empty match right after the previous match does not count."""
    regex = _compile_regex(pattern)
    found: list[str] = []
    position, previous_end = 0, -1
    while position <= len(text) and (limit < 0 or len(found) < limit):
        match = regex.search(text, position)
        if match is None:
            break
        accept = True
        if match.end() == position:
            accept = match.start() != previous_end
            position += 1
        else:
            position = match.end()
        previous_end = match.end()
        if accept:
            found.append(match.group())
    return found


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
        member("find", "string_find_string", "string", ("string", "string"), _find),
        member("findAll", "string_find_all_string", "list", ("string", "string"), _find_all),
        member("findAll", "string_find_all_string_int", "list", ("string", "string", "int"), _find_all),
    ]
