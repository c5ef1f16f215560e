"""jq (libjq through the ``jq`` bindings) behind one adapter: Argo CD's ``jqPathExpressions``.

``driftignoring`` checks each expression once (``check_expression``) and deletes what it selects from
a document (``delete_paths``) as Argo CD does, with ``del(EXPRESSION)``.
"""

from __future__ import annotations

import functools
from typing import Any

import jq  # type: ignore[import-not-found]  # a C extension without type information


@functools.lru_cache(maxsize=256)
def _program(expression: str) -> Any:
    return jq.compile(f"del({expression})")


def check_expression(expression: str) -> str:
    """``""`` when ``expression`` compiles as a jq path expression, else jq's error."""
    try:
        _program(expression)
    except ValueError as exc:
        return f"not a jq expression: {exc}"
    return ""


def delete_paths(document: dict[str, Any], expression: str) -> dict[str, Any]:
    """``document`` without what ``expression`` selects; unchanged when the expression fails on it (a path
    into a field of another type: jq raises, Argo CD leaves the object as it is)."""
    try:
        result = _program(expression).input_value(document).first()
    except ValueError:
        return document
    return result if isinstance(result, dict) else document
