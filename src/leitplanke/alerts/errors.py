"""The alerts' exceptions (the tree is drawn in the package docstring); raised by ``targets`` and
``sending``, caught by the outbox relay, which retries ``SendError`` with backoff."""

from __future__ import annotations

from leitplanke.core.problems import LeitplankeError


class AlertError(LeitplankeError):
    code = "alert"


class TargetError(AlertError):
    code = "alert-target"


class SendError(AlertError):
    code = "alert-send"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the receiver's HTTP status, None when it was not reached
