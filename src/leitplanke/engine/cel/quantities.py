"""Kubernetes resource quantities for CEL: `quantity('1.5Gi').isLessThan(...)` and friends.

Pure Python, no CEL import: `engine.cel` registers `declarations()` with the runtime. The
runtime has no opaque types, so a quantity travels through CEL as `{"__quantity__": "<exact>"}`.
"""

from __future__ import annotations

import functools
import re
from fractions import Fraction
from typing import Any

from leitplanke.engine.cel import functions

MARKER = "__quantity__"

# Quantities are exact to the nano, as in Kubernetes; everything below is integer arithmetic.
_NANOS = 10**9
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
# Exponents beyond this would make Python build enormous integers (1e999999999); Kubernetes
# accepts them, but no resource ever needs them.
_EXPONENT_LIMIT = 1000

_SYNTAX = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


@functools.lru_cache(maxsize=4096)  # a scan meets the same few quantities ("100m", "128Mi") again and again
def parse_quantity(text: str) -> int:
    """Parse Kubernetes quantity syntax into an exact number of nano-units.

    Like Kubernetes, values finer than a nano round up (away from zero) and binary-suffixed
    values are capped at 2^63-1. Raises TypeError, which the CEL runtime reports as an
    INVALID_ARGUMENT error value.
    """
    match = _SYNTAX.fullmatch(text)
    if match is None or not (match["whole"] or match["fraction"]):
        raise TypeError(f"invalid quantity {text!r}: expected a number with an optional suffix, as in 1.5Gi")
    digits = match["whole"] + (match["fraction"] or "")
    try:
        value = Fraction(int(digits), 10 ** len(match["fraction"] or ""))
    except ValueError:  # Python refuses to convert thousands of digits
        raise TypeError(f"invalid quantity {text[:20]!r}…: too many digits") from None
    suffix = match["suffix"] or ""
    binary = suffix in _BINARY_SUFFIXES
    if binary:
        value *= 2 ** _BINARY_SUFFIXES[suffix]
    else:
        exponent = _DECIMAL_SUFFIXES[suffix] if suffix in _DECIMAL_SUFFIXES else int(suffix[1:])
        if abs(exponent) > _EXPONENT_LIMIT:
            raise TypeError(f"invalid quantity {text!r}: exponent beyond ±{_EXPONENT_LIMIT}")
        value *= Fraction(10) ** exponent
    nanos = -(-value.numerator * _NANOS // value.denominator)  # ceiling division
    if binary:
        nanos = min(nanos, _INT64_MAX * _NANOS)
    return -nanos if match["sign"] == "-" else nanos


def render_quantity(nanos: int) -> str:
    """The exact decimal form, unique per value, so map equality is quantity equality."""
    whole, fraction = divmod(abs(nanos), _NANOS)
    sign = "-" if nanos < 0 else ""
    if fraction:
        return f"{sign}{whole}.{fraction:09d}".rstrip("0")
    return f"{sign}{whole}"


def build_quantity(nanos: int) -> dict[str, str]:
    return {MARKER: render_quantity(nanos)}


def nanos_of(value: Any) -> int:
    """The nano-units of a quantity map, or TypeError if `value` is some other map."""
    return parse_quantity(functions.unwrap(value, MARKER, "a quantity, as made by quantity('1Gi')"))


def _quantity(text: str) -> dict[str, str]:
    return build_quantity(parse_quantity(text))


def compare(left: Any, right: Any) -> int:
    """-1, 0 or 1 as quantity `left` is less than, equal to or greater than `right`.

    `isLessThan`, `isGreaterThan` and `compareTo` are declared once for quantities and
    semvers (both travel as maps): ``cel.semvers`` declares them and calls this for quantities.
    """
    a, b = nanos_of(left), nanos_of(right)
    return (a > b) - (a < b)


def _add(left: Any, right: Any) -> dict[str, str]:
    return build_quantity(nanos_of(left) + nanos_of(right))


def _add_int(left: Any, right: int) -> dict[str, str]:
    return build_quantity(nanos_of(left) + right * _NANOS)


def _sub(left: Any, right: Any) -> dict[str, str]:
    return build_quantity(nanos_of(left) - nanos_of(right))


def _sub_int(left: Any, right: int) -> dict[str, str]:
    return build_quantity(nanos_of(left) - right * _NANOS)


def _sign(value: Any) -> int:
    nanos = nanos_of(value)
    return (nanos > 0) - (nanos < 0)


def _is_integer(value: Any) -> bool:
    whole, fraction = divmod(nanos_of(value), _NANOS)
    return fraction == 0 and _INT64_MIN <= whole <= _INT64_MAX


def _as_integer(value: Any) -> int:
    if not _is_integer(value):
        raise OverflowError("cannot convert value to integer")
    return nanos_of(value) // _NANOS


def _as_approximate_float(value: Any) -> float:
    nanos = nanos_of(value)
    try:
        return nanos / _NANOS
    except OverflowError:
        return float("inf") if nanos > 0 else float("-inf")


def declarations() -> list[functions.Declaration]:
    member = functions.member
    function = functions.function
    return [
        function("quantity", "string_to_quantity", "map", ("string",), _quantity),
        function(
            "isQuantity", "is_quantity_string", "bool", ("string",), functions.recognizer(parse_quantity)
        ),
        member("add", "quantity_add", "map", ("map", "map"), _add),
        member("add", "quantity_add_int", "map", ("map", "int"), _add_int),
        member("sub", "quantity_sub", "map", ("map", "map"), _sub),
        member("sub", "quantity_sub_int", "map", ("map", "int"), _sub_int),
        member("sign", "quantity_sign_member", "int", ("map",), _sign),
        function("sign", "quantity_sign", "int", ("map",), _sign),
        member("isInteger", "quantity_is_integer", "bool", ("map",), _is_integer),
        member("asInteger", "quantity_get_int", "int", ("map",), _as_integer),
        member("asApproximateFloat", "quantity_get_float", "double", ("map",), _as_approximate_float),
    ]
