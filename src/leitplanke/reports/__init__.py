"""Renderers: one ScanReport in, one string out, in every format the CLI and CI offer.

Called by the CLI and the service; each format lives in its own module with a pure ``render``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from leitplanke.core.policies import Policy
from leitplanke.core.problems import UsageError
from leitplanke.core.results import ScanReport
from leitplanke.reports import jsonreports, junit, policyreports, sarif, tables

__all__ = ["FORMATS", "render_report"]

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
