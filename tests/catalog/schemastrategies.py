"""Hypothesis strategies drawn from a template's parameter JSON-Schema (the subset the library uses).

hypothesis-jsonschema would do this, but its last release reaches into Hypothesis internals that
the Hypothesis of this venv no longer has; the library's schemas use few keywords, all covered here.
Every value drawn is checked against the schema by the validator the product uses, so a gap in
this helper shows up as a failing test, never as an invalid value passing unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import strategies as st

from leitplanke.catalog import parametervalidating


def from_schema(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    return _strategy(schema).filter(lambda value: not parametervalidating.validate(schema, value))


def _strategy(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(schema.get("minimum"), schema.get("maximum"))
    if kind == "number":
        return st.floats(schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        items = _strategy(schema.get("items") or {"type": "string"})
        return st.lists(
            items,
            min_size=schema.get("minItems", 0),
            max_size=schema.get("maxItems", 10),
            unique=bool(schema.get("uniqueItems")),
        )
    if kind == "object":
        return _object(schema)
    raise NotImplementedError(f"no strategy for {dict(schema)!r}")


def _string(schema: Mapping[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength", 300)
    if "pattern" in schema:
        drawn = st.from_regex(schema["pattern"].replace("$", r"\Z"), fullmatch=True)
        return drawn.filter(lambda text: low <= len(text) <= high)
    return st.text(min_size=low, max_size=high)


def _object(schema: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties") or {}
    if properties:
        required = set(schema.get("required") or ())
        return st.fixed_dictionaries(
            {k: _strategy(v) for k, v in properties.items() if k in required},
            optional={k: _strategy(v) for k, v in properties.items() if k not in required},
        )
    names = schema.get("propertyNames", {}).get("pattern", "^[a-z]{1,10}$")
    values = schema.get("additionalProperties") or {"type": "string"}
    return st.dictionaries(
        st.from_regex(names.replace("$", r"\Z"), fullmatch=True),
        _strategy(values),
        max_size=schema.get("maxProperties", 10),
    )
