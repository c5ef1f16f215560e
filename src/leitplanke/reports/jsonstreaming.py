"""A JSON document with one large array, written a chunk of the array at a time: the output is
what rendering it whole would give (indented, sorted keys), but the items never all exist at once.

Used by ``jsonreports`` (around its results) and ``sarif`` (its run's results).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

import orjson

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS
PLACEHOLDER = "\x00results\x00"  # where write_with_array puts the array
_PLACEHOLDER_JSON = '"\\u0000results\\u0000"'


def around_placeholder(document: Mapping[str, Any]) -> tuple[str, str]:
    """``document`` as indented JSON with sorted keys, before and after its ``PLACEHOLDER``."""
    head, tail = orjson.dumps(document, option=_OPTIONS).decode().split(_PLACEHOLDER_JSON, 1)
    return head, tail


_CHUNK = 5000  # items rendered at once


def write_with_array(document: Mapping[str, Any], items: Iterable[Any], out: TextIO, *, depth: int) -> None:
    """``document`` as indented JSON with sorted keys and a newline, with ``items`` as the array
    where it holds ``PLACEHOLDER`` (``depth`` levels down), rendered a chunk at a time: the
    output is the same as rendering it whole, but the items never all exist at once."""
    head, tail = around_placeholder(document)
    out.write(head)
    indent = "  " * depth
    chunks = (list(itertools.islice(iterator, _CHUNK)) for iterator in itertools.repeat(iter(items)))
    first = True
    for chunk in chunks:
        if not chunk:
            break
        text = orjson.dumps(chunk, option=_OPTIONS).decode()[2:-2]  # without "[\n" and "\n]"
        out.write(("[\n" if first else ",\n") + indent + text.replace("\n", "\n" + indent))
        first = False
    out.write("[]" if first else f"\n{indent}]")
    out.write(tail + "\n")
