"""Where a forEach's items live, read off its CEL text: the lists of the document it joins,
or filters. ``compiling`` records them; ``judging`` then knows each item's path without
searching the document for it.
"""

from __future__ import annotations

import re

from leitplanke.engine.cel import sourcetext

# one term of a forEach that only concatenates lists of the document: `podSpec.containers`,
# `podSpec.?initContainers.orValue([])`
_TERM = re.compile(r"^(object|podSpec|podMeta)((?:\.\??[A-Za-z_][A-Za-z0-9_]*)+)(\.orValue\(\[\]\))?$")
_FILTER = re.compile(r"\.\s*filter\(\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")
ItemSource = tuple[str, tuple[str, ...]]


def item_sources(for_each: str) -> tuple[ItemSource, ...] | None:
    """The (root, keys) of every list a forEach concatenates, or None if it does more than that."""
    terms = []
    for term in _unwrapped(for_each).split("+"):
        found = _TERM.match(term.strip())
        if found is None:
            return None
        keys = tuple(key.lstrip("?") for key in found[2].split(".")[1:])
        optional = "?" in found[2]
        if optional != bool(found[3]):
            return None  # `a.?b` without orValue, or orValue on a plain path: not a plain list
        terms.append((found[1], keys))
    return tuple(terms)


def filtered_sources(for_each: str) -> tuple[str, str, str] | None:
    """``(base, variable, condition)`` of a forEach ``base.filter(variable, condition)`` whose
    base only concatenates lists of the document (see ``item_sources``), else None."""
    text = for_each.strip()
    for found in _FILTER.finditer(text):
        base = text[: found.start()]
        opening = text.index("(", found.start())
        if sourcetext.closing(text, opening) == len(text) - 1 and item_sources(base) is not None:
            return base, found[1], text[found.end() : -1]
    return None


def _unwrapped(text: str) -> str:
    """``text`` without parentheses around all of it."""
    text = text.strip()
    while text.startswith("(") and sourcetext.closing(text, 0) == len(text) - 1:
        text = text[1:-1].strip()
    return text
