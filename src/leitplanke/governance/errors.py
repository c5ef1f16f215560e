"""Refusals of the governance use cases, mapped to HTTP problems and exit codes at the edges::

LeitplankeError
 └── GovernanceError
      ├── NotFound     an app, team, environment or token that does not exist (404)
      ├── Conflict     a state that forbids the change (409)
      ├── Invalid      input that breaks a rule of the domain, with the field at fault (422)
      └── Forbidden    the caller's role or team does not allow it (403)
"""

from __future__ import annotations

from leitplanke.core.problems import LeitplankeError


class GovernanceError(LeitplankeError):
    code = "governance"

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class NotFound(GovernanceError):
    code = "not-found"


class Conflict(GovernanceError):
    code = "conflict"


class Invalid(GovernanceError):
    code = "invalid"


class Forbidden(GovernanceError):
    code = "forbidden"
