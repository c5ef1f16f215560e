"""Renderers: one ScanReport in, one string out, in every format the CLI and CI offer.

Called by the CLI and the service; each format lives in its own module with a pure ``render``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TextIO

from leitplanke.core.policies import Policy
from leitplanke.core.problems import UsageError
from leitplanke.core.results import ScanReport
from leitplanke.reports import jsonreports, junit, policyreports, sarif, tables

__all__ = ["FORMATS", "render_report", "write_report"]

FORMATS = ("table", "json", "sarif", "junit", "policyreport")


def render_report(
    fmt: str,
    report: ScanReport,
    *,
    policies: Mapping[str, Policy],
    now: datetime,
    color: bool = False,
    width: int = 100,
    show_passed: bool = False,
) -> str:
    """``report`` in format ``fmt``; ``color``, ``width`` and ``show_passed`` affect only the table."""
    if fmt == "table":
        return tables.render(
            report, policies=policies, now=now, color=color, width=width, show_passed=show_passed
        )
    if fmt == "json":
        return jsonreports.render(report, policies=policies, now=now)
    if fmt == "sarif":
        return sarif.render(report, policies=policies, now=now)
    if fmt == "junit":
        return junit.render(report, policies=policies, now=now)
    if fmt == "policyreport":
        return policyreports.render(report, policies=policies, now=now)
    raise UsageError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def write_report(
    fmt: str,
    report: ScanReport,
    out: TextIO,
    *,
    policies: Mapping[str, Policy],
    now: datetime,
    color: bool = False,
    width: int = 100,
    show_passed: bool = False,
) -> None:
    """Like ``render_report``, written to ``out``; JSON is streamed so large scans stay small in memory."""
    if fmt == "json":
        jsonreports.write(report, out, now=now)
        return
    if fmt == "sarif":
        sarif.write(report, out, policies=policies, now=now)
        return
    if fmt == "policyreport":
        policyreports.write(report, out, policies=policies, now=now)
        return
    text = render_report(
        fmt, report, policies=policies, now=now, color=color, width=width, show_passed=show_passed
    )
    out.write(text if text.endswith("\n") else text + "\n")
