"""Normalising a desired and a live object so that only what the author could have changed is compared.

``drift.compare`` calls ``normalise_pair`` for each desired object that is live. Removed: the status, the
metadata and annotations the server writes, defaulted fields holding their default and assigned values Git
leaves out (``driftdefaults``); rewritten: quantities and durations to one spelling; sorted: ``env`` by name
and ``ports`` by port; dropped: empty maps, empty lists and nulls, which mean the same as absent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from leitplanke.delivery import driftdefaults

# maps whose values are all quantities; in a LimitRange also its default/max/min maps
_QUANTITY_MAPS = frozenset({"limits", "requests", "hard", "capacity", "allocatable"})
_LIMIT_RANGE_MAPS = frozenset({"default", "defaultRequest", "max", "min", "maxLimitRequestRatio"})
_QUANTITY_KEYS = frozenset({"sizeLimit"})
_AS_WRITTEN = frozenset({"metadata"})  # labels and annotations: neither quantities nor durations
_DATA = frozenset({"data", "stringData", "binaryData"})
_QUANTITY = re.compile(
    r"([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?"
)
_SUFFIXES = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
# Go's time.Duration spelling (metav1.Duration): "1h30m", "90m", "5400s", "1.5h" are one duration
_DURATION = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?(?:ns|us|µs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "µs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}
# a string field is a duration when its name ends so (interval, retryInterval, timeout, renewBefore, …)
_DURATION_NAMES = ("interval", "timeout", "duration", "period", "renewbefore", "ttl", "delay", "backoff")


def normalise_pair(
    desired: Mapping[str, Any], live: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies of ``desired`` and ``live`` as they are compared (the originals are left as they are)."""
    kind = str(desired.get("kind", live.get("kind", "")))
    wanted, running = _plain(desired), _plain(live)
    for path in driftdefaults.assigned_of(kind):
        if not _present(wanted, path):
            _drop(running, path)
    return normalise(wanted, kind=kind), normalise(running, kind=kind)


def normalise(body: dict[str, Any], *, kind: str) -> dict[str, Any]:
    """``body`` normalised in place (see the module's docstring) and returned."""
    body.pop("status", None)
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        _normalise_metadata(metadata, kind=kind)
    _strip_defaults(body, _defaults_tree(kind))
    _rewrite(body, kind=kind, key="")
    _without_empties(body)
    return body


@dataclass(frozen=True, slots=True)
class _Tree:
    """The defaults of a kind as a tree of their paths, so that one walk of a body strips them all."""

    below: dict[str, _Tree] = field(default_factory=dict)  # "*": every item of a list
    leaves: dict[str, driftdefaults.Default] = field(default_factory=dict)


@functools.cache
def _defaults_tree(kind: str) -> _Tree:
    root = _Tree()
    for default in driftdefaults.defaults_of(kind):
        node = root
        for key in default.path[:-1]:
            node = node.below.setdefault(key, _Tree())
        node.leaves[default.path[-1]] = default
    return root


def _strip_defaults(node: Any, tree: _Tree) -> None:
    if isinstance(node, list):
        each = tree.below.get("*")
        if each is not None:
            for item in node:
                _strip_defaults(item, each)
        return
    if not isinstance(node, dict):
        return
    for key, default in tree.leaves.items():
        if key in node and node[key] == default.expected(node):
            del node[key]
    for key, below in tree.below.items():
        if key in node:
            _strip_defaults(node[key], below)


def _normalise_metadata(metadata: dict[str, Any], *, kind: str) -> None:
    for key in driftdefaults.SERVER_METADATA:
        metadata.pop(key, None)
    metadata.pop("namespace", None)  # the object's identity, matched before comparing
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key in driftdefaults.SERVER_ANNOTATIONS:
            annotations.pop(key, None)
    labels = metadata.get("labels")
    if kind == "Namespace" and isinstance(labels, dict) and _labelled_by_name(labels, metadata):
        del labels["kubernetes.io/metadata.name"]  # the server labels every Namespace with its own name


def _labelled_by_name(labels: Mapping[str, Any], metadata: Mapping[str, Any]) -> bool:
    return bool(labels.get("kubernetes.io/metadata.name") == metadata.get("name"))


def _plain(value: Any) -> Any:
    """A deep copy made of dicts and lists only (scalars are immutable: shared)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _present(node: Any, path: tuple[str, ...]) -> bool:
    if not path:
        return node is not None
    head, rest = path[0], path[1:]
    if head == "*":
        return isinstance(node, list) and any(_present(item, rest) for item in node)
    return isinstance(node, dict) and head in node and _present(node[head], rest)


def _drop(node: Any, path: tuple[str, ...]) -> None:
    """Remove the field at ``path`` (``*``: in every list item), wherever it is."""
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) else ():
            _drop(item, rest)
    elif isinstance(node, dict) and head in node:
        if rest:
            _drop(node[head], rest)
        else:
            del node[head]


def _rewrite(node: Any, *, kind: str, key: str) -> None:
    """Quantities and durations to one spelling, ``env`` and ``ports`` to one order, below ``node``."""
    if isinstance(node, dict):
        for name, value in node.items():
            if name in _AS_WRITTEN or (name in _DATA and kind in ("ConfigMap", "Secret")):
                continue  # what applications and controllers read is compared as written
            if _holds_quantities(name, kind) and isinstance(value, dict):
                node[name] = {k: canonical_quantity(v) for k, v in value.items()}
            elif name in _QUANTITY_KEYS:
                node[name] = canonical_quantity(value)
            elif isinstance(value, str) and name.lower().endswith(_DURATION_NAMES):
                node[name] = canonical_duration(value)
            else:
                _rewrite(value, kind=kind, key=name)
    elif isinstance(node, list):
        for item in node:
            _rewrite(item, kind=kind, key=key)
        if key == "env" and all(isinstance(item, dict) for item in node):
            node.sort(key=lambda item: str(item.get("name", "")))
        elif key == "ports" and all(isinstance(item, dict) for item in node):
            node.sort(key=_port_order)


def _holds_quantities(name: str, kind: str) -> bool:
    return name in _QUANTITY_MAPS or (kind == "LimitRange" and name in _LIMIT_RANGE_MAPS)


def _port_order(port: Mapping[str, Any]) -> tuple[str, str, str]:
    number = port.get("containerPort", port.get("port", ""))
    return (f"{number!s:>12}", str(port.get("protocol", "TCP")), str(port.get("name", "")))


def canonical_quantity(value: Any) -> Any:
    """A Kubernetes quantity as one spelling (``1000m``, ``1`` and ``1.0`` → ``1``; ``1Gi``, ``1024Mi`` and
    ``1073741824`` → ``1Gi``; ``0.5`` → ``500m``); anything that is not a quantity is returned as it is."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value
    match = _QUANTITY.fullmatch(str(value).strip())
    if match is None:
        return value
    number, suffix = match.group(1), match.group(2) or ""
    try:
        exponent = suffix[:1] in ("e", "E")
        amount = Decimal(number + suffix) if exponent else Decimal(number) * _SUFFIXES[suffix]
    except (InvalidOperation, KeyError):
        return value
    return _quantity_text(amount)


def _quantity_text(amount: Decimal) -> str:
    """The shortest exact spelling: the largest binary suffix that divides, else decimal, else milli."""
    if amount == amount.to_integral_value() and amount != 0:
        for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki", "E", "P", "T", "G", "M", "k"):
            if amount % _SUFFIXES[suffix] == 0:
                return f"{_decimal_text(amount / _SUFFIXES[suffix])}{suffix}"
        return _decimal_text(amount)
    milli = amount * 1000
    return f"{_decimal_text(milli)}m" if milli == milli.to_integral_value() else _decimal_text(amount)


def canonical_duration(value: str) -> str:
    """A Go duration in seconds (``1h30m``, ``90m`` → ``5400s``); any other string is returned as it is."""
    if _DURATION.fullmatch(value) is None:
        return value
    seconds = sum(
        (Decimal(amount) * _DURATION_UNITS[unit] for amount, unit in _DURATION_PART.findall(value)),
        Decimal(0),
    )
    return f"{_decimal_text(seconds)}s"


def _decimal_text(amount: Decimal) -> str:
    text = format(amount.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _without_empties(value: Any) -> Any:
    """``value`` without nulls, empty maps and empty lists at any depth (the top level stays)."""
    if isinstance(value, dict):
        for key in list(value):
            item = _without_empties(value[key])
            if item is None or item == {} or item == []:
                del value[key]
            else:
                value[key] = item
    elif isinstance(value, list):
        value[:] = [_without_empties(item) for item in value]
    return value
