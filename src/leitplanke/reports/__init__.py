"""Renderers: one ScanReport in, one string out, in every format the CLI and CI offer.

Called by the CLI and the service; each format lives in its own module with a pure ``render``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import TextIO

from leitplanke.core.policies import Policy, Severity
from leitplanke.core.problems import UsageError
from leitplanke.core.results import ScanReport

__all__ = ["FORMATS", "TableView", "render_report", "write_report"]

FORMATS = ("table", "json", "sarif", "junit", "policyreport")
_MODULES = {
    "table": "tables",
    "json": "jsonreports",
    "sarif": "sarif",
    "junit": "junit",
    "policyreport": "policyreports",
}


def _module(fmt: str) -> ModuleType:
    """The module of a format, imported when first asked for: a scan loads only the one it writes
    (the table alone pulls in rich)."""
    name = _MODULES.get(fmt)
    if name is None:
        raise UsageError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return importlib.import_module(f"leitplanke.reports.{name}")


@dataclass(frozen=True, slots=True)
class TableView:
    """How the table shows a report (the other formats carry every result, unstyled)."""

    color: bool = False
    width: int = 100
    show_passed: bool = False
    min_severity: Severity | None = None  # results below it are left out; the summary counts them
    summary_only: bool = False


def render_report(
    fmt: str,
    report: ScanReport,
    *,
    policies: Mapping[str, Policy],
    now: datetime,
    table: TableView = TableView(),
) -> str:
    """``report`` in format ``fmt``; ``table`` affects only the table (``tables.render``)."""
    module = _module(fmt)
    if fmt == "table":
        text: str = module.render(
            report,
            policies=policies,
            now=now,
            color=table.color,
            width=table.width,
            show_passed=table.show_passed,
            min_severity=table.min_severity,
            summary_only=table.summary_only,
        )
        return text
    rendered: str = module.render(report, policies=policies, now=now)
    return rendered


def write_report(
    fmt: str,
    report: ScanReport,
    out: TextIO,
    *,
    policies: Mapping[str, Policy],
    now: datetime,
    table: TableView = TableView(),
) -> None:
    """Like ``render_report``, written to ``out``; JSON is streamed so large scans stay small in memory."""
    if fmt == "json":
        _module(fmt).write(report, out, now=now)
        return
    if fmt in ("sarif", "policyreport"):
        _module(fmt).write(report, out, policies=policies, now=now)
        return
    text = render_report(fmt, report, policies=policies, now=now, table=table)
    out.write(text if text.endswith("\n") else text + "\n")
