"""Errors as data, and the one root of operational exceptions.

Authoring errors (a bad policy, a broken document) are collected as ``Problem``
values with a stable ``code`` and a source location and reported together.
Operational failures raise from one tree::

    LeitplankeError
     ├── UsageError        bad command-line or configuration input (exit 2)
     ├── PolicyError       policies could not be loaded at all (exit 2)
     ├── SourceError       an input could not be read (the scan goes on)
     └── ServiceError      the governance service, asked by the CLI
          ├── ServiceUnreachable  no answer: refused connection, unknown host, timeout (exit 4)
          └── ServiceRefused      an answer that refuses: 401, 403, 413, 5xx (exit 5)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Level(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One thing wrong with an input, with where it is.

    ``field`` is a dotted path inside the document (``spec.rules[2].validate``);
    ``column`` is set for CEL errors and YAML syntax errors.
    """

    file: str
    line: int
    code: str
    message: str
    field: str = ""
    column: int = 0
    level: Level = Level.ERROR

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        if self.column:
            where += f":{self.column}"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}: {self.level.value} {self.code}{field}: {self.message}"


class LeitplankeError(Exception):
    """Root of every exception leitplanke raises on purpose."""

    code = "leitplanke"

    def __init__(self, message: str, *, problems: tuple[Problem, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems


class UsageError(LeitplankeError):
    code = "usage"


class PolicyError(LeitplankeError):
    code = "policy"


class SourceError(LeitplankeError):
    code = "source"


class ServiceError(LeitplankeError):
    code = "service"


class ServiceUnreachable(ServiceError):
    code = "service-unreachable"


class ServiceRefused(ServiceError):
    code = "service-refused"
