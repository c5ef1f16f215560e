"""Kyverno variables: ``{{ }}`` JMESPath substitution with Kyverno's custom functions.

Called by the Kyverno rule evaluator (``compat.kyverno.clusterpolicies``) for patterns, conditions,
context entries and foreach lists. Substitution failures raise ``VariableError``; the
caller turns them into ``error`` outcomes (or, in conditions, into empty strings).
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import jmespath
import yaml
from jmespath import exceptions as jmes_errors, functions, visitor

from leitplanke.engine import regexes
from leitplanke.engine.compat.kyverno import jmespathextensions, scalars

# a `{{ }}` reference not preceded by a backslash; inner braces allow JMESPath object literals
_REFERENCE = re.compile(r"(?<!\\)\{\{((?:\{[^{}]*\}|[^{}])*)\}\}")


_F = TypeVar("_F", bound=Callable[..., Any])
_STR = {"types": ["string"]}
_STR_NUM = {"types": ["string", "number"]}
_NUM = {"types": ["number"]}
_ANY: dict[str, list[str]] = {"types": []}
_OBJ = {"types": ["object"]}
_ARR = {"types": ["array"]}
_OBJ_ARR = {"types": ["object", "array"]}


def signature(*arguments: dict[str, list[str]]) -> Callable[[_F], _F]:
    """jmespath's argument-type declaration, typed for mypy."""
    decorate: Callable[[_F], _F] = functions.signature(*arguments)
    return decorate


class VariableError(Exception):
    """A ``{{ }}`` reference that cannot be resolved: a JMESPath error or a missing value."""


class KyvernoFunctions(jmespathextensions.ExtensionFunctions):
    """The custom JMESPath functions of Kyverno that offline policies use."""

    @signature(_STR, _STR)
    def _func_compare(self, a: str, b: str) -> int:
        return (a > b) - (a < b)

    @signature(_STR, _STR)
    def _func_equal_fold(self, a: str, b: str) -> bool:
        return a.casefold() == b.casefold()

    @signature(_STR, _STR, _STR, _NUM)
    def _func_replace(self, text: str, old: str, new: str, count: float) -> str:
        return text.replace(old, new, int(count))

    @signature(_STR, _STR, _STR)
    def _func_replace_all(self, text: str, old: str, new: str) -> str:
        return text.replace(old, new)

    @signature(_STR)
    def _func_to_upper(self, text: str) -> str:
        return text.upper()

    @signature(_STR)
    def _func_to_lower(self, text: str) -> str:
        return text.lower()

    @signature(_STR, _STR)
    def _func_trim(self, text: str, cut: str) -> str:
        return text.strip(cut)

    @signature(_STR, _STR)
    def _func_trim_prefix(self, text: str, prefix: str) -> str:
        return text.removeprefix(prefix)

    @signature(_STR, _STR)
    def _func_split(self, text: str, sep: str) -> list[str]:
        return text.split(sep) if sep else list(text)

    @signature(_STR, _STR_NUM, _STR_NUM)
    def _func_regex_replace_all(self, pattern: str, text: Any, repl: Any) -> str:
        return regexes.replace_all(pattern, _text(text), _text(repl))

    @signature(_STR, _STR_NUM, _STR_NUM)
    def _func_regex_replace_all_literal(self, pattern: str, text: Any, repl: Any) -> str:
        return regexes.replace_all_literal(pattern, _text(text), _text(repl))

    @signature(_STR, _STR_NUM)
    def _func_regex_match(self, pattern: str, text: Any) -> bool:
        return regexes.search(pattern, _text(text))

    @signature(_STR, _STR_NUM)
    def _func_pattern_match(self, pattern: str, text: Any) -> bool:
        return scalars.wildcard_match(pattern, _text(text))

    @signature(_OBJ, _OBJ)
    def _func_label_match(self, selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
        return all(labels.get(key) == value for key, value in selector.items())

    @signature(_ANY, _ANY)
    def _func_add(self, a: Any, b: Any) -> Any:
        return _arith(a, b, lambda x, y: x + y)

    @signature(_ARR)
    def _func_sum(self, items: list[Any]) -> Any:
        total: Any = 0
        for item in items:
            total = _arith(total, item, lambda x, y: x + y)
        return total

    @signature(_ANY, _ANY)
    def _func_subtract(self, a: Any, b: Any) -> Any:
        return _arith(a, b, lambda x, y: x - y)

    @signature(_ANY, _ANY)
    def _func_multiply(self, a: Any, b: Any) -> Any:
        return _arith(a, b, lambda x, y: x * y)

    @signature(_ANY, _ANY)
    def _func_divide(self, a: Any, b: Any) -> Any:
        divisor = _number(b)
        if divisor == 0:
            raise jmes_errors.JMESPathError("divide: division by zero")
        return _number(a) / divisor

    @signature(_ANY, _ANY)
    def _func_modulo(self, a: Any, b: Any) -> Any:
        divisor = _number(b)
        if divisor == 0:
            raise jmes_errors.JMESPathError("modulo: division by zero")
        return math.fmod(_number(a), divisor)

    @signature(_NUM, _NUM)
    def _func_round(self, value: float, digits: float) -> float:
        factor = 10 ** int(digits)
        return float(math.floor(value * factor + 0.5) / factor)

    @signature(_NUM)
    def _func_abs(self, value: float) -> float:
        return abs(value)

    @signature(_STR)
    def _func_base64_decode(self, text: str) -> str:
        return base64.b64decode(text).decode("utf-8", errors="replace")

    @signature(_STR)
    def _func_base64_encode(self, text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    @signature(_STR, _NUM)
    def _func_truncate(self, text: str, length: float) -> str:
        return text[: max(int(length), 0)]

    @signature(_STR)
    def _func_parse_json(self, text: str) -> Any:
        return json.loads(text)

    @signature(_STR)
    def _func_parse_yaml(self, text: str) -> Any:
        return yaml.safe_load(text)

    @signature(_OBJ_ARR, _STR_NUM)
    def _func_lookup(self, collection: Any, key: Any) -> Any:
        if isinstance(collection, dict):
            return collection.get(key)
        index = int(key)
        return collection[index] if 0 <= index < len(collection) else None

    @signature(_OBJ, _STR, _STR)
    def _func_items(self, obj: Mapping[str, Any], key_name: str, value_name: str) -> list[dict[str, Any]]:
        return [{key_name: k, value_name: obj[k]} for k in sorted(obj)]

    @signature(_ARR, _ARR)
    def _func_object_from_lists(self, keys: list[Any], values: list[Any]) -> dict[str, Any]:
        return {str(k): (values[i] if i < len(values) else None) for i, k in enumerate(keys)}

    @signature(_STR, _STR)
    def _func_semver_compare(self, version: str, constraint: str) -> bool:
        return scalars.semver_satisfies(version, constraint)

    @signature(_STR)
    def _func_path_canonicalize(self, path: str) -> str:
        import posixpath

        return posixpath.normpath(path) if path else path

    @signature()
    def _func_time_now(self) -> str:
        return _format_time(datetime.now(UTC))

    @signature()
    def _func_time_now_utc(self) -> str:
        return _format_time(datetime.now(UTC))

    @signature(_STR, _STR, _STR)
    def _func_time_since(self, layout: str, start: str, end: str) -> str:
        begin = _parse_time(start)
        finish = _parse_time(end) if end else datetime.now(UTC)
        return scalars.render_duration((finish - begin).total_seconds())

    @signature(_STR, _STR)
    def _func_time_add(self, start: str, duration: str) -> str:
        seconds = scalars.parse_duration(duration)
        if seconds is None:
            raise jmes_errors.JMESPathError(f"time_add: invalid duration {duration!r}")
        return _format_time(_parse_time(start) + timedelta(seconds=seconds))

    @signature(_STR, _STR)
    def _func_time_diff(self, start: str, end: str) -> str:
        return scalars.render_duration((_parse_time(end) - _parse_time(start)).total_seconds())

    @signature(_STR, _STR)
    def _func_time_before(self, a: str, b: str) -> bool:
        return _parse_time(a) < _parse_time(b)

    @signature(_STR, _STR)
    def _func_time_after(self, a: str, b: str) -> bool:
        return _parse_time(a) > _parse_time(b)

    @signature(_STR, _STR, _STR)
    def _func_time_between(self, t: str, start: str, end: str) -> bool:
        return _parse_time(start) < _parse_time(t) < _parse_time(end)

    @signature(_STR)
    def _func_time_utc(self, t: str) -> str:
        return _format_time(_parse_time(t).astimezone(UTC))

    @signature(_STR, _STR)
    def _func_time_parse(self, layout: str, t: str) -> str:
        return _format_time(_parse_time(t))

    @signature(_STR, _STR)
    def _func_time_truncate(self, t: str, duration: str) -> str:
        step = scalars.parse_duration(duration) or 1.0
        moment = _parse_time(t)
        epoch = moment.timestamp()
        return _format_time(datetime.fromtimestamp(epoch - math.fmod(epoch, step), tz=UTC))

    @signature(_ANY)
    def _func_to_boolean(self, value: Any) -> bool:
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise jmes_errors.JMESPathError(f"to_boolean: cannot convert {value!r}")


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise jmes_errors.JMESPathError("expected a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        quantity = scalars.parse_quantity(value)
        if quantity is not None:
            return scalars.quantity_number(quantity)
        seconds = scalars.parse_duration(value)
        if seconds is not None:
            return seconds
    raise jmes_errors.JMESPathError(f"expected a number, got {value!r}")


def _arith(a: Any, b: Any, op: Any) -> Any:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return op(a, b)
    da, db = (scalars.parse_duration(v) if isinstance(v, str) else None for v in (a, b))
    if da is not None and db is not None:
        return scalars.render_duration(op(da, db))
    return op(_number(a), _number(b))


def _parse_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise jmes_errors.JMESPathError(f"invalid time {text!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _format_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


_OPTIONS = jmespath.Options(custom_functions=KyvernoFunctions())


class KyvernoInterpreter(visitor.TreeInterpreter):  # type: ignore[misc]  # jmespath is untyped
    """JMESPath as Kyverno's runtime (jmespath-community/go-jmespath) reads it: a subexpression
    whose left side is null is null, so ``a[].b.keys(@)`` skips an element without ``b``
    instead of calling ``keys(null)`` (python-jmespath evaluates the right side anyway)."""

    def visit_subexpression(self, node: dict[str, Any], value: Any) -> Any:
        return self._chain(node, value)

    def visit_index_expression(self, node: dict[str, Any], value: Any) -> Any:
        return self._chain(node, value)

    def _chain(self, node: dict[str, Any], value: Any) -> Any:
        first, *rest = node["children"]  # python-jmespath flattens `a.b.c` into one node
        result = self.visit(first, value)
        for child in rest:
            if result is None:
                return None
            result = self.visit(child, result)
        return result


def search(expression: str, data: Any) -> Any:
    """Evaluate one JMESPath expression with Kyverno's functions; errors become VariableError."""
    try:
        return KyvernoInterpreter(_OPTIONS).visit(jmespath.compile(expression).parsed, data)
    except (jmes_errors.JMESPathError, regexes.PatternError, ValueError, TypeError, yaml.YAMLError) as exc:
        raise VariableError(f"JMESPath query {expression!r} failed: {exc}") from exc


def has_references(value: Any) -> bool:
    if isinstance(value, str):
        return _REFERENCE.search(value) is not None
    if isinstance(value, Mapping):
        return any(has_references(k) or has_references(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_references(v) for v in value)
    return False


def substitute(value: Any, data: Mapping[str, Any], *, lenient: bool = False) -> Any:
    """``value`` with every ``{{ }}`` resolved against ``data``, recursively through maps and lists.

    A string that is exactly one reference becomes the referenced value (any type); otherwise
    references are spliced in as text (JSON for non-strings). ``lenient`` (conditions) turns
    unresolvable references into ``""`` as Kyverno does for preconditions and deny conditions.
    """
    if isinstance(value, str):
        return _substitute_text(value, data, lenient=lenient)
    if isinstance(value, Mapping):
        return {
            _substitute_text(k, data, lenient=lenient) if isinstance(k, str) else k: substitute(
                v, data, lenient=lenient
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [substitute(v, data, lenient=lenient) for v in value]
    return value


def _resolve(expression: str, data: Mapping[str, Any], *, lenient: bool) -> Any:
    try:
        found = search(expression, data)
    except VariableError:
        if lenient:
            return ""
        raise
    if found is None:
        # Kyverno's JMESPath reports a missing key as an error; conditions read it as ""
        if lenient:
            return ""
        raise VariableError(f"variable {expression!r} could not be resolved")
    return found


def _substitute_text(text: str, data: Mapping[str, Any], *, lenient: bool) -> Any:
    if "{{" not in text:
        return text
    # references inside references (`{{ a.{{b}} }}`) resolve innermost first
    for _ in range(8):
        matches = list(_REFERENCE.finditer(text))
        if not matches:
            break
        whole = matches[0]
        if len(matches) == 1 and whole.start() == 0 and whole.end() == len(text):
            return _resolve(whole[1].strip(), data, lenient=lenient)
        parts: list[str] = []
        position = 0
        for found in matches:
            parts.append(text[position : found.start()])
            resolved = _resolve(found[1].strip(), data, lenient=lenient)
            parts.append(resolved if isinstance(resolved, str) else _json(resolved))
            position = found.end()
        parts.append(text[position:])
        text = "".join(parts)
    return text.replace("\\{{", "{{")


def _json(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, separators=(",", ":"))
