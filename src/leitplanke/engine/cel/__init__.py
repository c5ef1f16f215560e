"""CEL as Kubernetes has it: the runtime's adapter (``environments``, the only module that
imports ``cel_expr_python``) and the Kubernetes libraries it registers (``functions`` for lists
and sets, ``quantities``, ``networks``, ``urls``, ``regexfunctions``, ``formats``, ``semvers``,
``jsonpatches``), plus ``rewriting`` (source the runtime cannot compile as written),
``sourcetext`` (CEL source as text), ``celmessages`` (the runtime's messages as reported) and
``literals`` (plain values as CEL literals).
Callers use the names below: ``cel.Program``, ``cel.CelFailure``.
"""

from leitplanke.engine.cel.celmessages import CelFailure, CelIssue, parse_issue
from leitplanke.engine.cel.environments import (
    SUBJECT_FUNCTION,
    EagerProgram,
    Environment,
    Program,
    build_environment,
)
from leitplanke.engine.cel.literals import literal

__all__ = [
    "SUBJECT_FUNCTION",
    "CelFailure",
    "CelIssue",
    "EagerProgram",
    "Environment",
    "Program",
    "build_environment",
    "literal",
    "parse_issue",
]
