"""The Rego adapter: the only module that imports the Rego runtime (``regopy``, rego-cpp).

rego-cpp reads only Rego v1 and reads v0 text *silently* with v1 meaning
(``violation[{"msg": m}] { … }`` becomes an object rule), so every module is upgraded
to v1 first by ``upgrade_to_v1``. Called by ``compat.gatekeeper.constrainttemplates``; failures are values.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import regopy
from regopy import NodeKind, rego_shared as shared

from leitplanke.engine.compat.gatekeeper import regoformatting

_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = frozenset(")]}")
# a `{` at the top level right after one of these opens a value (`x := {…}`), not a rule body
_VALUE_BEFORE = frozenset("=,([:")
_V1_WORDS = frozenset(("if", "contains"))


@dataclass(frozen=True, slots=True)
class RegoFailure:
    """A module that does not compile or a query that failed at runtime."""

    message: str


def is_v1(source: str) -> bool:
    """Modules that opt into v1 keywords already (``import rego.v1``) are left as they are."""
    return "import rego.v1" in source


def upgrade_to_v1(source: str) -> str:
    """Rewrite Rego v0 rule heads into v1: ``if`` before every rule body, ``contains`` for
    partial set rules (``p[x] { … }`` → ``p contains x if { … }``).

    A lexical pass over the top level (strings, raw strings and comments skipped): a ``{`` at
    depth 0 opens a rule body unless it follows ``=``/``:=``/``,``/``(`` (then it is a value);
    a statement that starts with ``name[`` and whose ``]`` is followed by a body is a set rule.
    Text that is already v1 (``if``/``contains`` present) is kept.
    """
    if is_v1(source):
        return source
    edits: list[tuple[int, int, str]] = []  # (position, characters removed, text inserted)
    stack: list[str] = []
    i, n = 0, len(source)
    last = ""  # the last significant character at depth 0
    last_word = ""
    statement_start = True
    head_open = -1  # position of `[` in `name[` at the start of a statement
    last_pos, newline = -1, False
    while i < n:
        ch = source[i]
        if ch == "#":
            end = source.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch in '"`':
            i = regoformatting.string_end(source, i)
            last, last_word, statement_start = '"', "", False
            last_pos, newline = i - 1, False
            continue
        if ch == "\n":
            if not stack:
                statement_start = True
            newline = True
            i += 1
            continue
        if ch.isspace():
            i += 1
            continue
        if ch.isalnum() or ch == "_":
            start = i
            while i < n and (source[i].isalnum() or source[i] in "_."):
                i += 1
            word = source[start:i]
            if not stack and statement_start and i < n and source[i] == "[":
                head_open = i
            statement_start = False
            last, last_word = word[-1], word
            last_pos, newline = i - 1, False
            continue
        if ch == "(" and newline and stack and stack[-1] == "}" and (last.isalnum() or last in '_])"'):
            # a body line that starts with `(` is a new expression; rego-cpp would read a call
            edits.append((last_pos + 1, 0, ";"))
        if ch in _OPENERS:
            # `{` after `if` opens a body already; after `contains` (future.keywords) it is the member
            if not stack and ch == "{" and last and last not in _VALUE_BEFORE and last_word not in _V1_WORDS:
                edits.append((i, 0, "if "))
            stack.append(_OPENERS[ch])
        elif ch in _CLOSERS:
            if stack:
                stack.pop()
            if not stack and ch == "]" and head_open >= 0:
                follows = source[i + 1 :].lstrip(" \t")
                if follows.startswith("{") or follows.startswith("if ") or follows.startswith("if{"):
                    edits.append((head_open, 1, " contains "))
                    edits.append((i, 1, " "))
                head_open = -1
        statement_start = False
        last, last_word = ch, ""
        last_pos, newline = i, False
        i += 1
    out = source
    for position, removed, inserted in sorted(edits, reverse=True):
        out = out[:position] + inserted + out[position + removed :]
    return hoist_call_iterations(out)


def hoist_call_iterations(source: str) -> str:
    """Move iterating refs out of call arguments: ``f(s, a[_])`` → ``__lp0 := a[_]; f(s, __lp0)``.

    rego-cpp rejects ``a[_]`` as an argument and yields nothing for ``a[i]`` with ``i`` unbound,
    where OPA iterates. The ref is hoisted to the start of its statement (or of its
    comprehension body), before a ``not`` as OPA's own term rewriting does: ``not f(a.b)``
    with ``a.b`` undefined fails the body in OPA, where rego-cpp negates. So every ref
    argument of a negated call is hoisted too. One-line statements only.
    """
    counter = 0
    lines = source.split("\n")
    for number, line in enumerate(lines):
        for _ in range(64):  # every iterating ref of the line, each pass removes one
            found = _iterating_argument(line) or _negated_ref_argument(line)
            if found is None:
                break
            start, end, insert_at = found
            name = f"__lp{counter}"
            counter += 1
            ref = line[start:end]
            line = line[:start] + name + line[end:]
            if insert_at < 0:
                indent = len(line) - len(line.lstrip())
                line = f"{line[:indent]}{name} := {ref}; {line[indent:]}"
            else:
                line = f"{line[:insert_at]} {name} := {ref};{line[insert_at:]}"
        lines[number] = line
    return "\n".join(lines)


_NEGATED_CALL = re.compile(r"^(\s*not\s+[A-Za-z_][\w.]*\()")
_REF = re.compile(r"[A-Za-z_]\w*(?:\.\w+|\[[^\[\]]*\])+")


def _negated_ref_argument(line: str) -> tuple[int, int, int] | None:
    """(start, end, -1) of the first ref argument (not a plain variable) of ``not f(…)``."""
    head = _NEGATED_CALL.match(line)
    if head is None:
        return None
    depth, i = 1, head.end()
    while i < len(line) and depth:
        ch = line[i]
        if ch in '"`':
            i = regoformatting.string_end(line, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif (
            depth == 1 and (ch.isalpha() or ch == "_") and not (line[i - 1].isalnum() or line[i - 1] in "_.")
        ):
            found = _REF.match(line, i)
            if found is not None and not line.startswith("(", found.end()):
                return found.start(), found.end(), -1
        i += 1
    return None


_INDEXED = re.compile(r"[A-Za-z_][\w.]*\[[A-Za-z_]\w*\](?:\.\w+|\[[^\[\]]*\])*")


def _iterating_argument(line: str) -> tuple[int, int, int] | None:
    """(start, end) of the first ref indexed by a variable inside call parentheses, and where its
    hoisted binding goes: after the ``|`` of the innermost comprehension, or -1 (the statement)."""
    code = line.split("#", 1)[0] if '"' not in line else line
    for found in _INDEXED.finditer(code):
        stack: list[tuple[str, int]] = []
        bars: dict[int, int] = {}
        i = 0
        while i < found.start():
            ch = code[i]
            if ch in '"`':
                i = regoformatting.string_end(code, i)
                continue
            if ch in "([{":
                stack.append((ch, i))
            elif ch in ")]}" and stack:
                bars.pop(len(stack), None)
                stack.pop()
            elif ch == "|" and stack:
                bars[len(stack)] = i + 1
            i += 1
        if i > found.start() or not stack:
            continue
        opener, at = stack[-1]
        if opener != "(" or at == 0 or not (code[at - 1].isalnum() or code[at - 1] == "_"):
            continue
        inner = max((depth for depth in bars if depth <= len(stack)), default=0)
        return found.start(), found.end(), bars[inner] if inner else -1
    return None


class RegoProgram:
    """One template's modules, upgraded and loaded once; queried per review.

    ``data`` (the inventory) is fixed when the program is built: rego-cpp adds data but
    never replaces it, so a different inventory needs another program.
    """

    __slots__ = ("_interpreter", "package")

    def __init__(self, interpreter: Any, package: str) -> None:
        self._interpreter = interpreter
        self.package = package

    def query_set(self, rule: str, input_value: Mapping[str, Any]) -> list[Any] | RegoFailure:
        """The members of the set rule ``rule`` of the main package for ``input_value``."""
        try:
            # raw UTF-8, not `\u` escapes: rego-cpp keeps a string's escapes as they are written
            self._interpreter.set_input_term(json.dumps(input_value, ensure_ascii=False))
            # the raw C API: regopy's Output parses rego-cpp's JSON text, which is not always JSON
            output = shared.rego_query(self._interpreter._impl, f"x := data.{self.package}.{rule}")
        except regopy.RegoError as exc:
            return RegoFailure(str(exc))
        try:
            text = shared.rego_output_string(output)
            if not shared.rego_output_ok(output):
                return RegoFailure(text.strip())
            if text.strip() == "undefined":
                return []
            if '"bindings"' not in text:
                return RegoFailure(f"unexpected result: {text.strip()[:200]}")
            value = _plain(shared.rego_output_binding_at_index(output, 0, "x"))
        finally:
            shared.rego_free_output(output)
        if isinstance(value, dict):
            return RegoFailure(f"data.{self.package}.{rule} is an object, not a set (Rego v0 text?)")
        return value if isinstance(value, list) else [value]


def _plain(node: Any) -> Any:
    """A result node as a Python value (sets become lists)."""
    kind = shared.rego_node_type(node)
    size = shared.rego_node_size(node)
    if kind in (NodeKind.Term, NodeKind.Scalar):
        return _plain(shared.rego_node_get(node, 0))
    if kind in (NodeKind.Array, NodeKind.Set):
        return [_plain(shared.rego_node_get(node, i)) for i in range(size)]
    if kind == NodeKind.Object:
        items = (shared.rego_node_get(node, i) for i in range(size))
        return {
            _key(_plain(shared.rego_node_get(item, 0))): _plain(shared.rego_node_get(item, 1))
            for item in items
        }
    text = shared.rego_node_value(node)
    if kind == NodeKind.Int:
        return int(text)
    if kind == NodeKind.Float:
        return float(text)
    if kind in (NodeKind.Boolean, NodeKind.True_, NodeKind.False_):
        return text == "true"
    if kind == NodeKind.Null:
        return None
    return _string(text)


def _key(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else json.dumps(value)


def _string(text: str) -> str:
    # the node holds the JSON-escaped content; rego-cpp sometimes keeps a literal's own quotes
    # (object.get(x, k, "") gives `""`), which OPA would not
    try:
        return str(json.loads(f'"{text}"'))
    except ValueError:
        pass
    try:
        found = json.loads(text)
    except ValueError:
        return text.replace('\\"', '"')
    return found if isinstance(found, str) else text


def build_program(
    main: str, *, libs: Sequence[str] = (), data: Mapping[str, Any] | None = None
) -> RegoProgram | RegoFailure:
    """Upgrade and load ``main`` and ``libs``; the package of ``main`` is the one queried."""
    package = _package_of(main)
    if not package:
        return RegoFailure("the Rego source has no package")
    interpreter = regopy.Interpreter()
    try:
        for index, source in enumerate((main, *libs)):
            text = regoformatting.wrap_sprintf_arguments(upgrade_to_v1(source))
            interpreter.add_module(f"module{index}.rego", text)
        if data:
            interpreter.add_data_json(json.dumps(data))
        check = interpreter.query("x := 1")  # compiles every module
    except (regopy.RegoError, ValueError) as exc:
        return RegoFailure(str(exc))
    if not check.ok():
        return RegoFailure(str(check).strip())
    return RegoProgram(interpreter, package)


def _package_of(source: str) -> str:
    for line in source.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2 and words[0] == "package":
            return words[1]
    return ""
