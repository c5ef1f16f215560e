"""Forms made from a template's JSON-Schema, and posted forms read back into the template's values.

Strings and numbers are inputs, enums selects, booleans checkboxes, arrays one item a line, objects
of strings ``KEY=value`` a line. A value that does not parse is passed on as text, so that the API's
validator (``catalog.parametervalidating``) names it at its field. Called by ``librarypages``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leitplanke.catalog.parametervalidating import ParameterError
from leitplanke.service.portal import forms

PREFIX = "p."  # a parameter's form field: p.<name>
_FIELD = re.compile(r"^\$\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Field:
    """One parameter as the form shows it."""

    name: str
    label: str
    kind: str  # text | number | checkbox | select | lines | pairs
    text: str  # the value as the form holds it
    options: tuple[str, ...] = ()
    hint: str = ""
    required: bool = False


def _kind(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "select"
    return {
        "integer": "number",
        "number": "number",
        "boolean": "checkbox",
        "array": "lines",
        "object": "pairs",
    }.get(str(schema.get("type")), "text")


def _hint(schema: Mapping[str, Any], kind: str) -> str:
    parts = [str(schema["description"])] if schema.get("description") else []
    if kind == "lines":
        parts.append("One item a line.")
    elif kind == "pairs":
        parts.append("One KEY=value a line.")
    parts.extend(
        f"{word} {schema[key]}."
        for key, word in (("minimum", "At least"), ("maximum", "At most"))
        if key in schema
    )
    return " ".join(parts)


def _text(value: Any, kind: str) -> str:
    """A value as the form shows it."""
    if value is None:
        return ""
    if kind == "lines" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if kind == "pairs" and isinstance(value, Mapping):
        return "\n".join(f"{k}={v}" for k, v in value.items())
    if kind == "checkbox":
        return "on" if value is True else ""
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _properties(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = schema.get("properties") or {}
    return {name: sub for name, sub in found.items() if isinstance(sub, Mapping)}


def fields_of(
    schema: Mapping[str, Any], *, values: Mapping[str, Any], texts: Mapping[str, str]
) -> list[Field]:
    """The form's fields: each shows the posted text when there is one, else the value."""
    required = set(schema.get("required") or ())
    fields = []
    for name, sub in _properties(schema).items():
        kind = _kind(sub)
        shown = texts[name] if name in texts else _text(values.get(name), kind)
        fields.append(
            Field(
                name=name,
                label=str(sub.get("title") or name),
                kind=kind,
                text=shown,
                options=tuple(str(o) for o in sub.get("enum") or ()),
                hint=_hint(sub, kind),
                required=name in required,
            )
        )
    return fields


def texts_of(schema: Mapping[str, Any], form: forms.Form) -> dict[str, str]:
    """The posted text of each parameter (a checkbox left unticked is "")."""
    return {name: form.get(PREFIX + name) for name in _properties(schema)}


def values_of(
    schema: Mapping[str, Any], texts: Mapping[str, str]
) -> tuple[dict[str, Any], list[ParameterError]]:
    """The values the texts stand for (an empty optional field is left out: its default holds), and
    what could not be read at all (a pair without ``=``)."""
    values: dict[str, Any] = {}
    problems: list[ParameterError] = []
    required = set(schema.get("required") or ())
    for name, sub in _properties(schema).items():
        text, kind = texts.get(name, ""), _kind(sub)
        if kind == "checkbox":
            values[name] = text == "on"
        elif not text.strip() and kind not in ("lines", "pairs"):
            if name in required:
                values[name] = text
        elif kind == "lines":
            found = sub.get("items")
            items: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            values[name] = [_scalar(line.strip(), items) for line in text.splitlines() if line.strip()]
        elif kind == "pairs":
            values[name] = _pairs(name, text, problems)
        else:
            values[name] = _scalar(text.strip(), sub)
    return values, problems


def _scalar(text: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    return text


def _pairs(name: str, text: str, problems: list[ParameterError]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sign, value = line.partition("=")
        if not sign:
            problems.append(ParameterError(f"$.{name}", "parameter-form", f"line {number} is not KEY=value"))
            continue
        pairs[key.strip()] = value
    return pairs


def field_of(path: str) -> str:
    """The form field an error's path is at: ``$.env['A b']`` and ``$.egressPorts[0]`` are the fields
    ``env`` and ``egressPorts``; a target's error (``app``) is its own field."""
    found = _FIELD.match(path)
    return found.group(1) if found else path
