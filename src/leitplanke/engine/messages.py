"""Rule messages as authors write them, turned into the CEL the evaluator runs.

A ``message`` is plain text in which ``{{ expr }}`` is replaced by the value of a CEL expression
(as in Kyverno), or, as before, one CEL expression producing the text; ``messageExpression``
is always CEL. Called by ``compiling`` with the policy's environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

FORMS = (
    "a message is plain text with {{ expr }} for CEL values (message: container {{ item.name }} "
    "has no limit), or a CEL expression: in messageExpression, or in message when it starts "
    "with a quote or joins quoted text with +"
)
_PLACEHOLDER = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
# text that is meant as CEL: it starts with a string literal, or joins one with +
_LOOKS_LIKE_CEL = re.compile(r"""^\s*['"]|['"]\s*\+|\+\s*['"]""")


@dataclass(frozen=True, slots=True)
class Resolved:
    """The CEL of a message, or why there is none (``error``: what failed, with the forms)."""

    source: str = ""
    error: str = ""
    field: str = ""  # where the error is: "" for the message itself, else the placeholder's text


def resolve(text: str, *, expression: bool, compiles: Callable[[str], str]) -> Resolved:
    """The CEL that produces ``text``'s message; ``compiles(source)`` returns "" when ``source``
    compiles, else the compiler's message. ``expression``: written as ``messageExpression``.

    The rule, in order: ``messageExpression`` is CEL; text with ``{{ }}`` is interpolated;
    text that starts with a quote or joins quoted text with ``+`` is CEL (it must compile);
    other text is CEL if it compiles as such (``object.kind + ' is'``) and plain text if not.
    """
    if expression:
        return _checked(text, compiles)
    if "{{" in text:
        return _interpolated(text, compiles)
    if _LOOKS_LIKE_CEL.search(text):
        return _checked(text, compiles)
    if not compiles(text):
        return Resolved(text)
    return Resolved(json.dumps(text.strip(), ensure_ascii=False))


def _checked(text: str, compiles: Callable[[str], str]) -> Resolved:
    failed = compiles(text)
    return Resolved(error=f"{failed}; {FORMS}") if failed else Resolved(text)


def _interpolated(text: str, compiles: Callable[[str], str]) -> Resolved:
    parts: list[str] = []
    last = 0
    for found in _PLACEHOLDER.finditer(text):
        if found.start() > last:
            parts.append(json.dumps(text[last : found.start()], ensure_ascii=False))
        expression = found.group(1).strip()
        failed = compiles(expression) if expression else "an empty {{ }}"
        if failed:
            return Resolved(error=f"in {{{{ {expression} }}}}: {failed}; {FORMS}", field=expression)
        parts.append(f"string({expression})")
        last = found.end()
    if "{{" in text[last:]:
        return Resolved(error=f"a {{{{ without its }}}}; {FORMS}")
    if last < len(text):
        parts.append(json.dumps(text[last:], ensure_ascii=False))
    return Resolved(" + ".join(parts) or '""')
