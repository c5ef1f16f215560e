"""Kubernetes' CEL semver library: `semver('1.2.3').isLessThan(semver('2.0.0'))`, `isSemver('v1', true)`.

Pure Python, no CEL import: `engine.cel` registers `declarations()`. Parsing, precedence and
error messages follow blang/semver v4, which Kubernetes uses; the normalising overloads follow
Kubernetes' own `normalizeAndParse`. (The `semver` package on PyPI words its errors otherwise
and is not used here.) A version travels as `{"__semver__": "1.2.3-rc.1"}`: build metadata is
dropped, as it plays no part in Kubernetes' comparisons or equality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leitplanke.engine.cel import functions, quantities

MARKER = "__semver__"

_DIGITS = frozenset("0123456789")
_ALPHANUMERIC = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")
_UINT64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...]

    def render(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return text + ("-" + ".".join(self.prerelease) if self.prerelease else "")


def _number(text: str, part: str) -> int:
    if not text or not set(text) <= _DIGITS:
        raise TypeError(f"Invalid character(s) found in {part} number {_go_quote(text)}")
    if len(text) > 1 and text[0] == "0":
        raise TypeError(f"{part.capitalize()} number must not contain leading zeroes {_go_quote(text)}")
    value = int(text)
    if value > _UINT64_MAX:
        raise TypeError(f"strconv.ParseUint: parsing {_go_quote(text)}: value out of range")
    return value


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _prerelease_part(text: str) -> str:
    if not text:
        raise TypeError("Prerelease is empty")
    if set(text) <= _DIGITS:
        if len(text) > 1 and text[0] == "0":
            raise TypeError(f"Numeric PreRelease version must not contain leading zeroes {_go_quote(text)}")
    elif not set(text) <= _ALPHANUMERIC:
        raise TypeError(f"Invalid character(s) found in prerelease {_go_quote(text)}")
    return text


def _build_part(text: str) -> None:
    if not text:
        raise TypeError("Buildversion is empty")
    if not set(text) <= _ALPHANUMERIC:
        raise TypeError(f"Invalid character(s) found in build meta data {_go_quote(text)}")


def parse_semver(text: str) -> Version:
    """A strict semantic version, or TypeError worded as blang/semver words it."""
    if not text:
        raise TypeError("Version string empty")
    parts = text.split(".", 2)
    if len(parts) != 3:
        raise TypeError("No Major.Minor.Patch elements found")
    major = _number(parts[0], "major")
    minor = _number(parts[1], "minor")
    patch_text, plus, build = parts[2].partition("+")
    patch_text, minus, prerelease = patch_text.partition("-")
    patch = _number(patch_text, "patch")
    version = Version(
        major, minor, patch, tuple(_prerelease_part(part) for part in prerelease.split(".")) if minus else ()
    )
    if plus:
        for part in build.split("."):
            _build_part(part)
    return version


def parse_normalized(text: str) -> Version:
    """Kubernetes' normalisation: no leading 'v', no leading zeros, missing minor and patch as 0."""
    parts = text.removeprefix("v").split(".", 2)
    for index, part in enumerate(parts):
        if len(part) > 1:
            part = part.lstrip("0")
            if not part or part[0] not in _DIGITS:
                part = "0" + part
            parts[index] = part
    if len(parts) < 3:
        if "+" in parts[-1] or "-" in parts[-1]:
            raise TypeError("short version cannot contain PreRelease/Build meta data")
        parts += ["0"] * (3 - len(parts))
    return parse_semver(".".join(parts))


def compare(left: Version, right: Version) -> int:
    """semver.org precedence: numbers, then a release above its prereleases, then part by part."""
    for mine, theirs in ((left.major, right.major), (left.minor, right.minor), (left.patch, right.patch)):
        if mine != theirs:
            return 1 if mine > theirs else -1
    if not left.prerelease or not right.prerelease:
        return (not left.prerelease) - (not right.prerelease)
    for mine_part, their_part in zip(left.prerelease, right.prerelease, strict=False):
        order = _compare_part(mine_part, their_part)
        if order:
            return order
    return (len(left.prerelease) > len(right.prerelease)) - (len(left.prerelease) < len(right.prerelease))


def _compare_part(left: str, right: str) -> int:
    left_numeric, right_numeric = set(left) <= _DIGITS, set(right) <= _DIGITS
    if left_numeric and right_numeric:
        return (int(left) > int(right)) - (int(left) < int(right))
    if left_numeric != right_numeric:
        return -1 if left_numeric else 1  # numeric identifiers have lower precedence
    return (left > right) - (left < right)


def _version_of(value: Any) -> Version:
    return parse_semver(functions.unwrap(value, MARKER, "a semver, as made by semver('1.2.3')"))


def _semver(text: str, normalize: bool = False) -> dict[str, str]:
    version = parse_normalized(text) if normalize else parse_semver(text)
    return {MARKER: version.render()}


def _is_semver(text: str, normalize: bool = False) -> bool:
    try:
        parse_normalized(text) if normalize else parse_semver(text)
    except TypeError:
        return False
    return True


def _int64(value: int) -> int:
    # Kubernetes converts the uint64 parts to int64 as Go does: with wraparound
    return value - 2**64 if value >= 2**63 else value


def _compare_to(value: Any, other: Any) -> int:
    """Quantities and semvers share `isLessThan`, `isGreaterThan` and `compareTo` (both are
    maps here, where Kubernetes has two types): the receiver's marker chooses."""
    if isinstance(value, dict) and MARKER in value:
        return compare(_version_of(value), _version_of(other))
    return quantities.compare(value, other)


def _is_less_than(value: Any, other: Any) -> bool:
    return _compare_to(value, other) < 0


def _is_greater_than(value: Any, other: Any) -> bool:
    return _compare_to(value, other) > 0


def declarations() -> list[functions.Declaration]:
    member = functions.member
    function = functions.function
    return [
        function("semver", "string_to_semver", "map", ("string",), _semver),
        function("semver", "string_bool_to_semver", "map", ("string", "bool"), _semver),
        function("isSemver", "is_semver_string", "bool", ("string",), _is_semver),
        function("isSemver", "is_semver_string_bool", "bool", ("string", "bool"), _is_semver),
        member("major", "semver_major", "int", ("map",), lambda value: _int64(_version_of(value).major)),
        member("minor", "semver_minor", "int", ("map",), lambda value: _int64(_version_of(value).minor)),
        member("patch", "semver_patch", "int", ("map",), lambda value: _int64(_version_of(value).patch)),
        member("isLessThan", "quantity_or_semver_is_less_than", "bool", ("map", "map"), _is_less_than),
        member(
            "isGreaterThan", "quantity_or_semver_is_greater_than", "bool", ("map", "map"), _is_greater_than
        ),
        member("compareTo", "quantity_or_semver_compare_to", "int", ("map", "map"), _compare_to),
    ]
