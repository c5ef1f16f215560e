"""Making rego-cpp's ``sprintf`` format as OPA's does: a source pass over every Rego module.

rego-cpp keeps the quotes of a string that some builtins return (``concat``, ``lower``,
``upper``, ``replace``, ``format_int``, an ``object.get`` default, …) when ``%v`` or ``%s``
formats it, where OPA writes the bare string. ``wrap_sprintf_arguments`` routes the argument
array of every ``sprintf`` call through a helper that re-makes each top-level string with
``trim(s, "")``, which rego-cpp returns unquoted; nested values already format as OPA's.
Called by ``compat.gatekeeper.regoprograms`` after the v1 upgrade.
"""

from __future__ import annotations

HELPER = "__lp_sprintf_args"
_CALL = "sprintf("
# v1 text: the module has been upgraded (or was written in v1) before this pass
_HELPERS = f"""

__lp_sprintf_arg(x) := y if {{
\tis_string(x)
\ty := trim(x, "")
}} else := x

{HELPER}(xs) := [__lp_sprintf_arg(x) | x := xs[_]]
"""


def wrap_sprintf_arguments(source: str) -> str:
    """``sprintf(f, args)`` → ``sprintf(f, __lp_sprintf_args(args))`` outside strings and
    comments, with the helpers appended once; text without ``sprintf`` is returned as it is."""
    if _CALL not in source:
        return source
    edits: list[tuple[int, int]] = []  # (where the argument array starts, where it ends)
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "#":
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in '"`':
            i = string_end(source, i)
            continue
        if source.startswith(_CALL, i) and (i == 0 or not (source[i - 1].isalnum() or source[i - 1] in "_.")):
            found = _second_argument(source, i + len(_CALL))
            if found is not None:
                edits.append(found)
            i += len(_CALL)
            continue
        i += 1
    if not edits:
        return source
    out = source
    for start, end in sorted(edits, reverse=True):
        out = f"{out[:start]}{HELPER}({out[start:end].strip()}){out[end:]}"
    return out + _HELPERS


def _second_argument(source: str, start: int) -> tuple[int, int] | None:
    """(start, end) of the second argument of the call whose arguments begin at ``start``."""
    depth, i, comma = 0, start, -1
    while i < len(source):
        ch = source[i]
        if ch in '"`':
            i = string_end(source, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                return (comma + 1, i) if comma >= 0 else None
            depth -= 1
        elif ch == "," and depth == 0:
            if comma >= 0:
                return None  # a third argument: not OPA's sprintf, leave it alone
            comma = i
        i += 1
    return None


def string_end(source: str, start: int) -> int:
    """The position after the string (``"…"`` with escapes, or a raw `` `…` ``) opening at ``start``."""
    quote = source[start]
    i = start + 1
    while i < len(source):
        if quote == '"' and source[i] == "\\":
            i += 2
            continue
        if source[i] == quote:
            return i + 1
        i += 1
    return len(source)
