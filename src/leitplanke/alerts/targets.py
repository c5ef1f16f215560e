"""Alert targets: where alerts go and in which format, parsed from the JSON of LEITPLANKE_ALERT_TARGETS.

``parse_targets`` is pure (text → targets) and reports every field at fault together; called by
``settings.load_settings``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from leitplanke.alerts.errors import TargetError
from leitplanke.core.problems import Problem

KINDS = ("webhook", "alertmanager", "slack", "alertmanager-api")


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    kind: str  # webhook (generic JSON) | alertmanager (webhook payload version 4) | slack | alertmanager-api
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 5.0


def parse_targets(text: str, *, source: str = "LEITPLANKE_ALERT_TARGETS") -> tuple[Target, ...]:
    """Targets from a JSON list of ``{name, type, url, headers?, timeoutSeconds?}`` objects."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        problem = Problem(source, exc.lineno, "alert-target", f"not valid JSON: {exc.msg}")
        raise TargetError(f"{source}: not valid JSON", problems=(problem,)) from None
    if not isinstance(data, list):
        problem = Problem(source, 0, "alert-target", "expected a JSON list of targets")
        raise TargetError(f"{source}: expected a JSON list of targets", problems=(problem,))
    problems: list[Problem] = []
    targets = [_target(item, f"[{index}]", source, problems) for index, item in enumerate(data)]
    seen: set[str] = set()
    for index, item in enumerate(data):
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name:
            if name in seen:
                problems.append(
                    Problem(source, 0, "alert-target", f"duplicate target name {name!r}", f"[{index}].name")
                )
            seen.add(name)
    if problems:
        raise TargetError(
            f"{source}: {len(problems)} problem(s) in the alert targets", problems=tuple(problems)
        )
    return tuple(target for target in targets if target is not None)


def _target(item: Any, at: str, source: str, problems: list[Problem]) -> Target | None:
    def fail(path: str, message: str) -> None:
        problems.append(Problem(source, 0, "alert-target", message, f"{at}.{path}" if path else at))

    if not isinstance(item, dict):
        fail("", "expected an object")
        return None
    before = len(problems)
    name, kind, url = item.get("name"), item.get("type"), item.get("url")
    if not isinstance(name, str) or not name:
        fail("name", "required: a non-empty string")
    if kind not in KINDS:
        fail("type", f"expected one of {', '.join(KINDS)}")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        fail("url", "required: an http:// or https:// URL")
    headers = item.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        fail("headers", "expected an object of strings")
    timeout = item.get("timeoutSeconds", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        fail("timeoutSeconds", "expected a number above zero")
    for unknown in sorted(set(item) - {"name", "type", "url", "headers", "timeoutSeconds"}):
        fail(unknown, "unknown field")
    if len(problems) > before:
        return None
    return Target(
        name=str(name), kind=str(kind), url=str(url), headers=dict(headers), timeout_seconds=float(timeout)
    )
