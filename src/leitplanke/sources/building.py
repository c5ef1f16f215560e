"""Building plain values (dicts, lists, scalars) from composed YAML nodes.

``parsing`` calls ``build`` for every document. A fast walk covers what manifests hold; merge
keys, duplicate and non-string keys send the document to a careful walk that tracks field
paths, so that a duplicate key is reported with its path.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from leitplanke.core.documents import join_path
from leitplanke.sources import yamlloaders

STR_TAG = BaseResolver.DEFAULT_SCALAR_TAG  # the resolver hands out this very object: compared by identity
MERGE_TAG = yamlloaders.MERGE_TAG
INT_TAG = yamlloaders.INT_TAG
BOOL_TAG = yamlloaders.BOOL_TAG


class Rejected(Exception):
    """A document that has no plain value (a mapping as a key, a merge of a scalar)."""

    def __init__(self, message: str, node: Node) -> None:
        super().__init__(message)
        self.node = node


class _Unusual(Exception):
    """Raised by the fast walk for anything only the careful walk handles."""


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A key that occurs twice in one mapping: the later value wins."""

    path: str
    key: ScalarNode  # the later occurrence


def build(node: Node) -> tuple[Any, list[Duplicate]]:
    """The plain value of ``node`` and the duplicate keys found on the way."""
    try:
        return _fast(node), []
    except _Unusual:
        careful = _CarefulWalk()
        return careful.value(node, ""), careful.duplicates


def exceeds(node: Node, limit: int) -> bool:
    """Whether ``node`` expands to more than ``limit`` nodes once aliases are copied out.

    Aliases share nodes, so each node is counted once and its size remembered: a billion
    laughs costs a few hundred steps here. A recursive alias counts as too large.
    """
    sizes: dict[int, int] = {}

    def size(current: Node) -> int:
        key = id(current)
        known = sizes.get(key)
        if known is not None:
            if known < 0:
                raise OverflowError  # an alias of a node that contains it
            return known
        sizes[key] = -1
        total = 1
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                total += size(key_node) + size(value_node)
        elif isinstance(current, SequenceNode):
            for item in current.value:
                total += size(item)
        if total > limit:
            raise OverflowError
        sizes[key] = total
        return total

    try:
        size(node)
    except (OverflowError, RecursionError):
        return True
    return False


def _fast(node: Node) -> Any:
    kind = node.__class__
    if kind is ScalarNode:
        return node.value if node.tag is STR_TAG else resolve_scalar(node)
    if kind is MappingNode:
        return _fast_mapping(node)
    return _fast_sequence(node)


# The two functions below run once per collection of every document: they look at scalars
# inline and compare tags by identity instead of calling a function per node.
def _fast_mapping(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {}
    pairs = node.value
    for key_node, value_node in pairs:
        if key_node.tag is not STR_TAG:
            raise _Unusual
        kind = value_node.__class__
        if kind is ScalarNode:
            # an explicit null stays null (``rules:``): Kyverno and the API server's
            # unstructured objects keep it, and ``object.rules == null`` must hold
            value = value_node.value if value_node.tag is STR_TAG else resolve_scalar(value_node)
        elif kind is MappingNode:
            value = _fast_mapping(value_node)
        else:
            value = _fast_sequence(value_node)
        out[key_node.value] = value
    if len(out) != len(pairs):
        raise _Unusual  # a duplicate key
    return out


def _fast_sequence(node: Node) -> list[Any]:
    out: list[Any] = []
    append = out.append
    for item in node.value:
        kind = item.__class__
        if kind is ScalarNode:
            append(item.value if item.tag is STR_TAG else resolve_scalar(item))
        elif kind is MappingNode:
            append(_fast_mapping(item))
        else:
            append(_fast_sequence(item))
    return out


class _CarefulWalk:
    """Builds values with their field paths: merge keys, duplicates, keys of any scalar type."""

    def __init__(self) -> None:
        self.duplicates: list[Duplicate] = []

    def value(self, node: Node, path: str) -> Any:
        if isinstance(node, ScalarNode):
            return resolve_scalar(node)
        if isinstance(node, SequenceNode):
            return [self.value(item, join_path(path, index)) for index, item in enumerate(node.value)]
        return self.mapping(node, path)

    def mapping(self, node: Node, path: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                for source in merge_sources(value_node):
                    for key, value in self.mapping(source, path).items():
                        merged.setdefault(key, value)  # of several merged mappings, the first wins
                continue
            if not isinstance(key_node, ScalarNode):
                raise Rejected("a mapping key must be a scalar", key_node)
            key = mapping_key(key_node)
            if key in out:
                self.duplicates.append(Duplicate(join_path(path, key), key_node))
            out[key] = self.value(value_node, join_path(path, key))
        if merged:
            merged.update(out)  # keys written in the mapping win over merged ones
            return merged
        return out


def mapping_key(node: ScalarNode) -> str:
    """A mapping key as sigs.k8s.io/yaml turns it into a JSON object's: a boolean becomes ``true`` or
    ``false`` (``on:`` is ``"true"``), an integer its decimal digits (``0x1F:`` is ``"31"``); any other
    key as written (a float or null key: Kubernetes would refuse the second and rarely sees the first)."""
    text: str = node.value
    if node.tag == BOOL_TAG:
        return "true" if text in yamlloaders.TRUE_WORDS else "false"
    if node.tag == INT_TAG:
        value = _to_int(text)
        return str(value) if value.__class__ is int else text
    return text


def merge_sources(node: Node) -> Iterator[MappingNode]:
    """The mappings a merge key (``<<``) brings in: one mapping or a list of them."""
    items = node.value if isinstance(node, SequenceNode) else [node]
    for item in items:
        if not isinstance(item, MappingNode):
            raise Rejected("a merge key (<<) takes a mapping or a list of mappings", item)
        yield item


def resolve_scalar(node: Node) -> Any:
    """The value of a scalar by its resolved tag. Timestamps, binary and other tags stay strings."""
    convert = _CONVERTERS.get(node.tag)
    text: str = node.value
    return text if convert is None else convert(text)


def _to_int(text: str) -> int | float | str:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if ":" in digits:
        return text  # YAML 1.1 base 60 (``8080:80``): Kubernetes reads it as a string
    prefix = digits[:2].lower()
    base = {"0x": 16, "0o": 8, "0b": 2}.get(prefix)
    try:
        if base is not None:
            return _int64(sign * int(digits[2:], base))
        if len(digits) > 1 and digits.startswith("0"):
            return _int64(sign * int(digits, 8))  # YAML 1.1 octal, as Kubernetes reads it
        return _int64(sign * int(digits))
    except ValueError:
        return text


def _int64(value: int) -> int | float:
    """Integers beyond int64 become floats: CEL (and JSON decoders in Kubernetes) cannot hold them."""
    return value if -(2**63) <= value < 2**63 else float(value)


def _to_float(text: str) -> float | str:
    digits = text.replace("_", "").lower()
    if digits.endswith(".inf"):
        return -math.inf if digits.startswith("-") else math.inf
    if digits == ".nan":
        return math.nan
    if ":" in digits:
        return text
    try:
        return float(digits)
    except ValueError:
        return text


def _to_bool(text: str) -> bool:
    return text in yamlloaders.TRUE_WORDS


def _to_null(text: str) -> None:
    return None


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    INT_TAG: _to_int,
    "tag:yaml.org,2002:float": _to_float,
    BOOL_TAG: _to_bool,
    "tag:yaml.org,2002:null": _to_null,
}
