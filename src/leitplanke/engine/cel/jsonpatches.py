"""Kubernetes' CEL JSONPatch library: `jsonpatch.escapeKey('a/b~c')` for a JSON Pointer path.

Pure Python, no CEL import: `engine.cel` registers `declarations()`. RFC 6901 escapes '~'
first, then '/', as Kubernetes does.
"""

from __future__ import annotations

from leitplanke.engine.cel import functions


def escape_key(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def declarations() -> list[functions.Declaration]:
    return [
        functions.function(
            "jsonpatch.escapeKey", "string_to_escaped_string", "string", ("string",), escape_key
        )
    ]
