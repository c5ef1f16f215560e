"""Compiling the CEL of Kyverno and Kubernetes admission policies, with the variables those
policies see, collecting each problem.

Called at load time by ``compat.kyverno.clusterpolicies``, ``compat.kyverno.validatingpolicies`` and
``compat.vap``; ``compat.kyverno.validating`` evaluates what comes out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from leitplanke.engine import cel
from leitplanke.engine.cel import sourcetext

CEL_VARIABLES = ("object", "oldObject", "request", "params", "namespaceObject", "variables", "authorizer")


class CelCompiler:
    """Compiles the CEL of one Kyverno or admission policy and remembers whether any expression failed.

    Each problem goes to ``problem(path, code, message)``; ``rewrite`` (if any) changes the text
    first, and its failures are not reported (the caller tries the unrewritten text elsewhere).
    """

    def __init__(self, problem: Any, *, rewrite: Any = None) -> None:
        self.env = cel.build_environment(variables=CEL_VARIABLES)
        self.problem = problem
        self.rewrite = rewrite
        self.ok = True

    def __call__(self, source: Any, path: str) -> cel.Program | None:
        text = plain_or_value(str(source))
        found = self.env.compile(self.rewrite(text) if self.rewrite is not None else text)
        if isinstance(found, cel.CelIssue):
            self.ok = False
            if self.rewrite is None:
                self.problem(path, "cel-compile", found.message)
            return None
        return found

    def variables(self, entries: Sequence[Any], base: str) -> tuple[tuple[str, cel.Program], ...]:
        """``variables`` entries (name, expression) under ``base`` (``spec.variables``)."""
        compiled = []
        for index, entry in enumerate(entries):
            program = self(entry.get("expression", ""), f"{base}[{index}].expression")
            if program is not None:
                compiled.append((str(entry.get("name", "")), program))
        return tuple(compiled)

    def validations(
        self, entries: Sequence[Any], base: str
    ) -> tuple[tuple[cel.Program, str, cel.Program | None], ...]:
        """Validation entries (expression, message, messageExpression) under ``base``."""
        compiled = []
        for index, entry in enumerate(entries):
            program = self(entry.get("expression", ""), f"{base}[{index}].expression")
            message = None
            if entry.get("messageExpression"):
                message = self(entry["messageExpression"], f"{base}[{index}].messageExpression")
            if program is not None:
                compiled.append((program, str(entry.get("message", "")), message))
        return tuple(compiled)

    def conditions(self, entries: Sequence[Any], base: str) -> tuple[cel.Program, ...]:
        """Condition entries (expression) under ``base`` (``spec.matchConditions``)."""
        compiled = (
            self(entry.get("expression", ""), f"{base}[{i}].expression") for i, entry in enumerate(entries)
        )
        return tuple(program for program in compiled if program is not None)


def plain_or_value(source: str) -> str:
    """Drop ``.orValue(d)`` after a receiver with no optional step (``a.b.orValue([])``).

    Kyverno's cel-go returns such a non-optional receiver as it is; our runtime has no
    overload for it. Receivers that hold ``?`` or end in a call keep their ``orValue``.
    """
    marker = ".orValue("
    out, position = [], 0
    while True:
        found = source.find(marker, position)
        if found < 0:
            out.append(source[position:])
            return "".join(out)
        start = found
        while start > 0 and (source[start - 1].isalnum() or source[start - 1] in "_.?"):
            start -= 1
        receiver = source[start:found]
        end = sourcetext.closing(source, found + len(marker) - 1)
        if "?" in receiver or not receiver or source[found - 1] in ")]" or end < 0:
            out.append(source[position : found + len(marker)])
            position = found + len(marker)
            continue
        out.append(source[position:found])
        position = end + 1
