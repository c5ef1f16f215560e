"""The portal's pages as Jinja2 templates (``templates/``), the only module that imports Jinja2.

Every value is escaped by the template engine (autoescape on for every template), never by hand.
``Pages`` is built once per application by ``portal.install``; pages and partials are rendered by name.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2

TEMPLATES = Path(__file__).with_name("templates")


def _time(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _day(value: datetime | None) -> str:
    return "–" if value is None else value.strftime("%Y-%m-%d")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _query(values: dict[str, Any], **changes: Any) -> str:
    """A query string of ``values`` with ``changes``, empty values left out (links of pagers)."""
    merged = {**values, **changes}
    return urlencode({key: value for key, value in merged.items() if value not in (None, "", False)})


class Pages:
    """The template environment: autoescaped, strict about undefined names, templates read once."""

    def __init__(self, *, directory: Path = TEMPLATES) -> None:
        self._env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(directory),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self._env.filters.update(time=_time, day=_day, percent=_percent)
        self._env.globals.update(query=_query)

    def render(self, name: str, **values: Any) -> str:
        return self._env.get_template(name).render(**values)
