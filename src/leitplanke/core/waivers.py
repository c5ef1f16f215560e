"""Waivers: scoped, justified, approved exceptions that expire.

A waiver names the policies (and optionally rules) it covers and an explicit
match on resources. Expired waivers never suppress; ``covers`` decides one case.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leitplanke.core.policies import SourceRef
from leitplanke.core.results import Resource


@dataclass(frozen=True, slots=True)
class WaiverScope:
    """One explicit resource selection; empty fields match anything, names allow ``*``."""

    kinds: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()

    def selects(self, resource: Resource) -> bool:
        return (
            _any_match(self.kinds, resource.kind)
            and _any_match(self.namespaces, resource.namespace)
            and _any_match(self.names, resource.name)
        )


def _any_match(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(value, p) for p in patterns)


@dataclass(frozen=True, slots=True)
class Waiver:
    name: str
    policies: tuple[str, ...]
    rules: tuple[str, ...]
    scopes: tuple[WaiverScope, ...]
    reason: str
    owner: str
    approver: str
    expires: datetime
    requester: str = ""
    source: SourceRef = field(default_factory=lambda: SourceRef(""))

    @property
    def expiry_text(self) -> str:
        """``the end of 2027-01-31`` for a date, the timestamp itself otherwise."""
        return expiry_text(self.expires)

    def is_expired(self, now: datetime) -> bool:
        return now >= self.expires

    def covers(self, *, policy: str, rule: str, resource: Resource) -> bool:
        if not _any_match(self.policies, policy):
            return False
        if self.rules and not _any_match(self.rules, rule):
            return False
        return any(scope.selects(resource) for scope in self.scopes)


def expiry_text(expires: datetime) -> str:
    """A date-only expiry is stored as the next midnight (UTC); say it as the user wrote it."""
    if (expires.hour, expires.minute, expires.second, expires.microsecond) == (0, 0, 0, 0):
        return f"the end of {(expires - timedelta(days=1)).date().isoformat()}"
    return expires.isoformat()
