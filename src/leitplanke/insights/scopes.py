"""Scopes and periods as users write them: ``org``, ``team:<name>``, ``app:<name>``; ``30d``, ``12w``,
``24h``. Pure; parsed by the CLI and the service, errors as ``Invalid`` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from leitplanke.governance import errors

_PERIOD = re.compile(r"^(?P<n>[1-9][0-9]{0,3})(?P<unit>[hdw])$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
MAX_PERIOD = timedelta(days=3660)


@dataclass(frozen=True, slots=True)
class Scope:
    kind: str  # "org", "team" or "app"
    name: str = ""

    @property
    def label(self) -> str:
        return "org" if self.kind == "org" else f"{self.kind}:{self.name}"

    def apps(self, teams: Mapping[str, str]) -> list[str]:
        """The apps of the scope, given app -> team; ``NotFound`` for an unknown team or app."""
        if self.kind == "org":
            return sorted(teams)
        if self.kind == "team":
            found = sorted(app for app, team in teams.items() if team == self.name)
            if not found and self.name not in teams.values():
                raise errors.NotFound(f"no team {self.name!r} with apps in the catalog", field="scope")
            return found
        if self.name not in teams:
            raise errors.NotFound(f"no application {self.name!r} in the catalog", field="scope")
        return [self.name]


def parse_scope(text: str) -> Scope:
    if text == "org":
        return Scope("org")
    kind, sep, name = text.partition(":")
    if not sep or kind not in ("team", "app") or not name or len(name) > 100:
        raise errors.Invalid("scope is org, team:<name> or app:<name>", field="scope")
    return Scope(kind, name)


def parse_period(text: str) -> timedelta:
    match = _PERIOD.match(text)
    if match is None:
        raise errors.Invalid("period is a number with h, d or w (30d, 12w, 24h)", field="period")
    period = int(match["n"]) * _UNITS[match["unit"]]
    if period > MAX_PERIOD:
        raise errors.Invalid("period is at most ten years", field="period")
    return period
