"""CEL literals of plain Python values: a policy's params written into its programs.

Pure Python, no CEL import; called by ``joining`` and the compiler through ``cel.literal``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any


def literal(value: Any) -> str | None:
    """`value` written as a CEL literal, or None when CEL has no literal for it.

    Policies' params are constants: written into the expression they cost a few
    microseconds per evaluation, where a variable is converted afresh for every activation.
    """
    kind = value.__class__
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value) if -(2**63) <= value < 2**63 else None
    if kind is float:
        return repr(value) if math.isfinite(value) else None
    if kind is str:
        # JSON's escapes of quotes, backslashes and control characters are CEL escapes too
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        items = [literal(item) for item in value]
        return None if None in items else f"[{', '.join(items)}]"  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        entries = []
        for key, item in value.items():
            if key.__class__ is not str and key.__class__ is not int and key.__class__ is not bool:
                return None
            key_text, item_text = literal(key), literal(item)
            if key_text is None or item_text is None:
                return None
            entries.append(f"{key_text}: {item_text}")
        return "{" + ", ".join(entries) + "}"
    return None
