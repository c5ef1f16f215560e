"""What every renderer derives the same way from a ScanReport: counts, order and time.

Called by the renderers of this package only; keeps their totals and orderings identical.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from leitplanke.core.policies import Severity
from leitplanke.core.results import Result, ScanReport, Verdict

# most serious first, the order in which reports list severities
SEVERITIES: tuple[Severity, ...] = tuple(sorted(Severity, reverse=True))


@dataclass(frozen=True, slots=True)
class Summary:
    """Totals of one scan. ``verdicts`` counts every result, waived or not."""

    resources: int
    checks: int
    verdicts: Mapping[str, int]
    failures_by_severity: Mapping[str, int]
    waived: int
    problems: int
    skipped_inputs: int


def build_summary(report: ScanReport) -> Summary:
    tally = report.tally()
    verdicts = {verdict.value: 0 for verdict in Verdict}
    failures = {severity.label: 0 for severity in SEVERITIES}
    waived = 0
    for (verdict, severity, has_waiver), count in tally.items():
        verdicts[verdict.value] += count
        waived += count if has_waiver else 0
        if verdict is Verdict.FAIL:
            failures[severity.label] += count
    return Summary(
        resources=report.documents,
        checks=sum(tally.values()),
        verdicts=verdicts,
        failures_by_severity=failures,
        waived=waived,
        problems=len(report.problems),
        skipped_inputs=len(report.skipped),
    )


def ordered(report: ScanReport) -> Sequence[Result]:
    """The report's results in report order, sorting only when ``finish`` has not."""
    return report.results if report.in_order else sorted(report.results, key=Result.sort_key)


def utc(now: datetime) -> datetime:
    """``now`` in UTC; a naive ``now`` is taken to be UTC already, never local time."""
    return now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)


def rfc3339(now: datetime) -> str:
    """``2025-03-14T09:26:53Z``: UTC, to the second, the form every format here accepts."""
    return utc(now).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_finding(result: Result) -> bool:
    """Fail, warn, error, or waived: the results shown without asking.

    The engine turns a waived failure into ``skip`` naming the waiver; it stays a finding.
    """
    return result.verdict in (Verdict.FAIL, Verdict.WARN, Verdict.ERROR) or bool(result.waiver)
