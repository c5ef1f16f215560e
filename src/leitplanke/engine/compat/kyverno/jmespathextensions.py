"""Kyverno's JMESPath functions for hashing and cron schedules, beside ``substituting``'s set.

A base class of ``substituting.KyvernoFunctions``: jmespath collects the ``_func_`` methods
of every class in the hierarchy. Semantics follow Kyverno's implementations.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from jmespath import functions


class ExtensionFunctions(functions.Functions):  # type: ignore[misc]  # jmespath is untyped
    @functions.signature({"types": ["string"]})  # type: ignore[untyped-decorator]  # jmespath is untyped
    def _func_sha256(self, text: str) -> str:
        """The hex SHA-256 digest of the string's UTF-8 bytes."""
        return hashlib.sha256(text.encode()).hexdigest()

    @functions.signature({"types": ["string"]})  # type: ignore[untyped-decorator]  # jmespath is untyped
    def _func_time_to_cron(self, moment: str) -> str:
        """An RFC 3339 time as the cron fields ``minute hour day month weekday`` (Sunday is 0)."""
        parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        weekday = (parsed.weekday() + 1) % 7
        return f"{parsed.minute} {parsed.hour} {parsed.day} {parsed.month} {weekday}"
