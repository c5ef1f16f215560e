"""Validating template parameters against their JSON-Schema: the one module that imports jsonschema.

Errors are values, each with the JSON path of the field (``$.ingress.host``) and a stable code,
all of them, sorted by path. Called by ``templatelibrary`` (the schemas) and ``scaffolding`` (values).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema import exceptions

from leitplanke.engine import regexes

_Draft = jsonschema.Draft202012Validator
_BOUNDS = frozenset(
    (
        *("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"),
        *("minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties", "uniqueItems"),
    )
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, slots=True, order=True)
class ParameterError:
    path: str  # JSON path of the field: "$", "$.replicas", "$.ports[0]"
    code: str  # parameter-<JSON-Schema keyword>, e.g. parameter-maximum, parameter-required
    message: str

    def as_dict(self) -> dict[str, str]:
        """As the service's problems list an issue: the field at fault, what is wrong, its kind."""
        return {"field": self.path, "message": self.message, "type": self.code}


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """JSON-Schema's ``pattern`` matched by RE2: linear in the value's length (Python's ``re``
    backtracks, and a value is a stranger's), and ``$`` is the end of the text as in ECMA-262,
    where Python's ``$`` also matches before a final newline (``"abc\\n"`` for ``^[a-z]+$``)."""
    if isinstance(instance, str) and not regexes.search(pattern, instance):
        yield exceptions.ValidationError(f"does not match {pattern!r}")


# the stubs leave extend untyped; it returns a validator class of the draft's kind
Validator = jsonschema.validators.extend(_Draft, {"pattern": _pattern})  # type: ignore[no-untyped-call]


def check_schema(schema: Any) -> list[ParameterError]:
    """What is wrong with a template's parameter schema: not a valid JSON-Schema, not an object
    schema that names its properties, or a property name templates cannot refer to."""
    if not isinstance(schema, Mapping):
        return [ParameterError("", "template-parameters", "a JSON-Schema (a mapping) is required")]
    try:
        _Draft.check_schema(schema)
    except exceptions.SchemaError as exc:
        return [ParameterError(_path(exc.absolute_path, root=""), "template-schema", exc.message)]
    problems = [
        ParameterError(path, "template-pattern", str(error))
        for path, pattern in _patterns(schema, "")
        if (error := regexes.check(pattern)) is not None
    ]
    if schema.get("type") != "object" or schema.get("additionalProperties") is not False:
        problems.append(
            ParameterError("", "template-schema", "parameters are an object with additionalProperties: false")
        )
    for name in schema.get("properties") or {}:
        if not _IDENTIFIER.fullmatch(name):
            problems.append(ParameterError(f".properties.{name}", "template-schema", "not an identifier"))
    invalid = [e for e in Validator(schema).iter_errors(defaults_of(schema))]
    problems.extend(
        ParameterError("", "template-defaults", f"the defaults do not validate: {e.message}") for e in invalid
    )
    return problems


def _patterns(schema: Any, path: str) -> list[tuple[str, str]]:
    """Every ``pattern`` in ``schema``, with where it is."""
    found: list[tuple[str, str]] = []
    if isinstance(schema, Mapping):
        for key, value in schema.items():
            if key == "pattern" and isinstance(value, str):
                found.append((f"{path}.pattern", value))
            else:
                found.extend(_patterns(value, f"{path}.{key}"))
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found.extend(_patterns(value, f"{path}[{index}]"))
    return found


def defaults_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The values an empty form holds: each property's ``default``, nested objects' too."""
    values: dict[str, Any] = {}
    for name, sub in (schema.get("properties") or {}).items():
        if not isinstance(sub, Mapping):
            continue
        if "default" in sub:
            values[name] = copy.deepcopy(sub["default"])
        elif sub.get("type") == "object" and sub.get("properties"):
            nested = defaults_of(sub)
            if nested:
                values[name] = nested
    return values


def with_defaults(schema: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` over the schema's defaults (nested objects merged key by key)."""
    merged = defaults_of(schema)
    for name, value in values.items():
        sub = (schema.get("properties") or {}).get(name)
        if isinstance(value, Mapping) and isinstance(merged.get(name), Mapping) and isinstance(sub, Mapping):
            merged[name] = with_defaults(sub, value)
        else:
            merged[name] = value
    return merged


def validate(schema: Mapping[str, Any], values: Any) -> list[ParameterError]:
    """Every error of ``values`` against ``schema``, sorted by path; none means valid."""
    errors = _non_finite(values, "$")
    for error in Validator(schema).iter_errors(values):
        errors.extend(_errors_of(error))
    return sorted(set(errors))


def _non_finite(values: Any, root: str) -> list[ParameterError]:
    """NaN and infinities: JSON has none (a JSON parser may still read them) and every bound
    compares false with NaN, so ``minimum`` alone would let it through. A loop, not recursion:
    a stranger's values may nest as deep as the parser allowed."""
    found, stack = [], [(root, values)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            found.append(ParameterError(path, "parameter-finite", "must be a finite number"))
        elif isinstance(value, Mapping):
            stack.extend((_join(path, str(k)[:100]), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v) for i, v in enumerate(value))
    return found


def _errors_of(error: exceptions.ValidationError) -> list[ParameterError]:
    path = _path(error.absolute_path)
    code = f"parameter-{error.validator}"
    if "propertyNames" in error.relative_schema_path and isinstance(error.instance, str):
        # a key that breaks propertyNames: the error is the key's, named by the key
        return [ParameterError(_join(path, error.instance[:100]), code, "name " + _message(error))]
    if error.validator == "required" and isinstance(error.validator_value, list):
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        return [
            ParameterError(_join(path, name), code, f"{name!r} is required")
            for name in error.validator_value
            if name not in instance
        ]
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = (error.schema.get("properties") or {}) if isinstance(error.schema, Mapping) else {}
        return [
            ParameterError(_join(path, str(name)), code, f"unknown parameter {str(name)!r}")
            for name in error.instance
            if name not in known
        ]
    return [ParameterError(path, code, _message(error))]


def _message(error: exceptions.ValidationError) -> str:
    """jsonschema's message without the instance in it: a hostile value is not echoed back."""
    keyword, expected = error.validator, error.validator_value
    if keyword in _BOUNDS:
        return f"must satisfy {keyword} {expected}"
    if keyword == "pattern":
        return f"must match the pattern {expected}"
    if keyword == "enum" and isinstance(expected, list):
        return "must be one of " + ", ".join(repr(v) for v in expected)
    if keyword == "const":
        return f"must be {expected!r}"
    if keyword == "type":
        return f"must be of type {expected}"
    if keyword == "format":
        return f"must be a valid {expected}"
    if keyword == "not":
        return "is not allowed"
    return f"does not satisfy {keyword}"


def _path(parts: Any, *, root: str = "$") -> str:
    path = root
    for part in parts:
        path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
    return path


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if _IDENTIFIER.fullmatch(name) else f"{path}[{name!r}]"
