"""Report schedules: which report goes where, and when, from the service's settings
(``LEITPLANKE_REPORT_SCHEDULES`` as YAML or JSON, or a file: ``LEITPLANKE_REPORT_SCHEDULES_FILE``).

A YAML list of ``{name, cron, timeZone?, scope?, period?, format?, mailTo?, webhook?, headers?}``;
``parse_schedules`` is pure (text → schedules) and reports every field at fault together, each with
its file, line and field. Read by ``settings.load_settings``; run by ``insights.reportruns``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from leitplanke.core.problems import LeitplankeError, Problem
from leitplanke.governance import errors
from leitplanke.insights import crontimes, scopes

FORMATS = ("json", "md", "html", "pdf")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")
_FIELDS = frozenset({"name", "cron", "timeZone", "scope", "period", "format", "mailTo", "webhook", "headers"})
_CODE = "report-schedule"


class ScheduleError(LeitplankeError):
    code = _CODE


@dataclass(frozen=True, slots=True)
class Schedule:
    name: str
    cron: str  # five fields, in ``time_zone``'s wall clock
    time_zone: str = "UTC"
    scope: str = "org"  # org, team:<name>, app:<name>
    period: str = "7d"
    format: str = "pdf"
    mail_to: tuple[str, ...] = ()
    webhook: str = ""  # receives the report's JSON, whatever ``format`` says
    headers: Mapping[str, str] = field(default_factory=dict)  # of the webhook (a bearer token, say)

    @property
    def span(self) -> timedelta:
        return scopes.parse_period(self.period)

    def due_at(self, now: datetime) -> datetime:
        """The latest firing at or before ``now``."""
        return crontimes.previous(self.cron, self.time_zone, now)

    def next_at(self, now: datetime) -> datetime:
        return crontimes.following(self.cron, self.time_zone, now)

    @property
    def targets(self) -> tuple[str, ...]:
        """What a run delivers to, as recorded: ``mail`` and/or ``webhook``."""
        return (("mail",) if self.mail_to else ()) + (("webhook",) if self.webhook else ())


def parse_schedules(text: str, *, source: str = "LEITPLANKE_REPORT_SCHEDULES") -> tuple[Schedule, ...]:
    """Schedules from YAML (or JSON) text; ``ScheduleError`` with every problem found."""
    try:
        data = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        problem = Problem(source, line, _CODE, f"not YAML: {getattr(exc, 'problem', exc)}")
        raise ScheduleError(f"{source}: not valid YAML", problems=(problem,)) from None
    if data is None:
        return ()
    if not isinstance(data, list) or not isinstance(root, yaml.SequenceNode):
        problem = Problem(source, 1, _CODE, "expected a list of report schedules")
        raise ScheduleError(f"{source}: expected a list of report schedules", problems=(problem,))
    lines = [node.start_mark.line + 1 for node in root.value]
    problems: list[Problem] = []
    schedules = []
    seen: set[str] = set()
    for index, item in enumerate(data):
        schedule = _schedule(item, at=f"[{index}]", line=lines[index], source=source, problems=problems)
        if schedule is None:
            continue
        if schedule.name in seen:
            message = f"duplicate schedule name {schedule.name!r}"
            problems.append(Problem(source, lines[index], _CODE, message, f"[{index}].name"))
        seen.add(schedule.name)
        schedules.append(schedule)
    if problems:
        raise ScheduleError(
            f"{source}: {len(problems)} problem(s) in the report schedules", problems=tuple(problems)
        )
    return tuple(schedules)


def _schedule(item: Any, *, at: str, line: int, source: str, problems: list[Problem]) -> Schedule | None:
    def fail(name: str, message: str) -> None:
        problems.append(Problem(source, line, _CODE, message, f"{at}.{name}" if name else at))

    if not isinstance(item, dict):
        fail("", "expected a mapping")
        return None
    before = len(problems)
    for unknown in sorted(set(map(str, item)) - _FIELDS):
        fail(unknown, f"unknown field (known: {', '.join(sorted(_FIELDS))})")
    name, cron = item.get("name"), item.get("cron")
    if not isinstance(name, str) or not _NAME.match(name):
        fail("name", "required: lower-case letters, digits and '-', at most 100 characters")
    if not isinstance(cron, str) or not crontimes.is_valid(cron):
        fail("cron", "required: a cron expression of five fields (minute hour day month weekday)")
    zone = item.get("timeZone", "UTC")
    if not isinstance(zone, str) or not _known_zone(zone):
        fail("timeZone", "expected an IANA time zone such as Europe/Berlin")
    for key, parse in (("scope", scopes.parse_scope), ("period", scopes.parse_period)):
        value = item.get(key, Schedule.__dataclass_fields__[key].default)
        try:
            parse(str(value))
        except errors.Invalid as exc:
            fail(key, str(exc))
    fmt = item.get("format", "pdf")
    if fmt not in FORMATS:
        fail("format", f"expected one of {', '.join(FORMATS)}")
    mail_to = item.get("mailTo", [])
    if isinstance(mail_to, str):
        mail_to = [mail_to]
    if not isinstance(mail_to, list) or not all(isinstance(a, str) and _is_address(a) for a in mail_to):
        fail("mailTo", "expected e-mail addresses (name@domain)")
    webhook = item.get("webhook", "")
    if not isinstance(webhook, str) or (webhook and not _is_url(webhook)):
        fail("webhook", "expected an http:// or https:// URL")
    headers = item.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        fail("headers", "expected a mapping of strings")
    if len(problems) == before and not mail_to and not webhook:
        fail("", "a schedule needs a target: mailTo and/or webhook")
    if len(problems) > before or not isinstance(name, str) or not isinstance(cron, str):
        return None
    return Schedule(
        name=name,
        cron=cron,
        time_zone=zone,
        scope=str(item.get("scope", "org")),
        period=str(item.get("period", "7d")),
        format=fmt,
        mail_to=tuple(mail_to),
        webhook=webhook,
        headers={str(k): v for k, v in headers.items()},
    )


def _known_zone(zone: str) -> bool:
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _is_address(text: str) -> bool:
    local, sep, domain = text.partition("@")
    return bool(sep and local and "." in domain and not any(c in text for c in " ,<>\r\n"))


def _is_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
