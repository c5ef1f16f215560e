"""The human report: findings grouped by file and resource, then problems and one summary line.

Called by ``reports.render_report`` for the ``table`` format; rich draws into a string, never a tty.
"""

from __future__ import annotations

import io
import itertools
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from rich._wrap import divide_line
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from leitplanke.core.policies import Policy, Severity
from leitplanke.core.problems import Level
from leitplanke.core.results import Result, ScanReport, Verdict
from leitplanke.reports import summaries

SEVERITY_STYLES: Mapping[Severity, str] = {
    Severity.CRITICAL: "bold red",
    Severity.HIGH: "red",
    Severity.MEDIUM: "yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "dim",
}
VERDICT_STYLES: Mapping[Verdict, str] = {
    Verdict.FAIL: "bold red",
    Verdict.WARN: "yellow",
    Verdict.ERROR: "magenta",
    Verdict.PASS: "green",
    Verdict.SKIP: "dim",
}
LEVEL_STYLES: Mapping[Level, str] = {Level.ERROR: "magenta", Level.WARNING: "yellow"}
WAIVED_STYLE = "dim"
INDENT = (0, 0, 0, 4)  # top, right, bottom, left
# below this width the columns of a row leave too little room for the finding: a list instead
NARROW_WIDTH = 60
NARROW_INDENT = (0, 0, 0, 6)
MIN_WIDTH = 20  # narrower than this, lines are as wide as this and the terminal wraps them


def render(
    report: ScanReport,
    *,
    policies: Mapping[str, Policy],
    now: datetime,
    color: bool = False,
    width: int = 100,
    show_passed: bool = False,
    min_severity: Severity | None = None,
    summary_only: bool = False,
) -> str:
    """The report as terminal text ``width`` columns wide; passed and skipped checks only with
    ``show_passed``, results below ``min_severity`` left out (the summary still counts them).

    Waived results are shown, dimmed: the engine's message says by which waiver and why. Below
    ``NARROW_WIDTH`` columns each finding is a short list instead of a row. ``summary_only``: the
    summary line alone.
    """
    del now  # the table shows no time: the same scan renders the same text
    buffer = io.StringIO()
    console = build_console(buffer, color=color, width=max(width, MIN_WIDTH))
    if not summary_only:
        _print_body(console, report, policies, show_passed=show_passed, min_severity=min_severity)
    # never wrapped: scripts and people grep for it
    console.print(Text(render_summary_line(report), style="bold"), soft_wrap=True)
    # rich pads every line to the full width; trailing blanks only make diffs noisy
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _print_body(
    console: Console,
    report: ScanReport,
    policies: Mapping[str, Policy],
    *,
    show_passed: bool,
    min_severity: Severity | None,
) -> None:
    listed = [r for r in summaries.ordered(report) if show_passed or summaries.is_finding(r)]
    shown = [r for r in listed if min_severity is None or r.severity >= min_severity]
    narrow = console.width < NARROW_WIDTH
    _print_results(console, shown, policies, narrow=narrow)
    if report.problems:
        console.print(Text("Problems", style="bold underline"))
        if narrow:
            for problem in sorted(report.problems):
                console.print(Padding(Text(problem.render(), style=LEVEL_STYLES[problem.level]), INDENT))
        else:
            console.print(Padding(_problem_grid(report), INDENT))
        console.print()
    if report.broken:  # their problems are listed above: here, what did not run
        console.print(Text("Policies that could not run", style="bold underline"))
        console.print(Padding(_broken_grid(report), INDENT))
        console.print()
    if report.skipped:
        console.print(_skipped_line(report), soft_wrap=True)
    if len(shown) < len(listed) and min_severity is not None:
        hidden = _count(len(listed) - len(shown), "result")
        console.print(Text(f"{hidden} below {min_severity.label} not shown (--severity)", style="dim"))


def render_summary_line(report: ScanReport) -> str:
    """``12 resources, 340 checks: 300 passed, 30 failed, 2 warnings, 1 error, 7 skipped; 1 problem``.

    Waived results count under their verdict (``skip`` from the engine); their number is added when
    there are any.
    """
    summary = summaries.build_summary(report)
    verdicts = summary.verdicts
    checks = (
        f"{verdicts[Verdict.PASS]} passed, {verdicts[Verdict.FAIL]} failed, "
        f"{_count(verdicts[Verdict.WARN], 'warning')}, {_count(verdicts[Verdict.ERROR], 'error')}, "
        f"{verdicts[Verdict.SKIP]} skipped"
    )
    tail = _count(summary.problems, "problem")
    if summary.waived:
        tail += f", {summary.waived} waived"
    if report.broken:
        tail += f", {len(report.broken)} {'policy' if len(report.broken) == 1 else 'policies'} could not run"
    return f"{_count(summary.resources, 'resource')}, {_count(summary.checks, 'check')}: {checks}; {tail}"


def build_console(buffer: io.StringIO, *, color: bool, width: int) -> Console:
    # every setting rich would otherwise guess from the environment is fixed, so output is byte-stable
    return Console(
        file=buffer,
        force_terminal=color,
        no_color=not color,
        color_system="standard" if color else None,
        width=width,
        height=25,
        legacy_windows=False,
        force_jupyter=False,
        force_interactive=False,
        highlight=False,
        emoji=False,
        soft_wrap=False,
    )


def _print_results(
    console: Console, shown: Sequence[Result], policies: Mapping[str, Policy], *, narrow: bool
) -> None:
    if not shown:
        console.print(Text("No failed, warning or error checks."))
        console.print()
    for file, in_file in itertools.groupby(shown, key=lambda r: r.location.file):
        console.print(Text(file, style="bold underline"))
        for (_, resource), rows in itertools.groupby(in_file, key=lambda r: (r.location.index, r.resource)):
            console.print(Text(f"  {resource.display}", style="bold"))
            listed = list(rows)
            if narrow:
                _print_narrow(console, listed, policies)
                continue
            lines = None if console.is_terminal else _plain_grid(listed, policies, console.width)
            if lines is None:
                console.print(Padding(_result_grid(listed, policies), INDENT))
            else:
                console.file.write(lines)
        console.print()


def _print_narrow(console: Console, rows: Sequence[Result], policies: Mapping[str, Policy]) -> None:
    """Each finding as a heading (verdict, severity, line) over its message and origin, wrapped."""
    for result in rows:
        line, verdict, severity = _plain_cells(result)
        heading = Text(verdict, style=WAIVED_STYLE if result.waiver else VERDICT_STYLES[result.verdict])
        heading.append(" ")
        heading.append(severity, style=SEVERITY_STYLES[result.severity])
        if line:
            heading.append(f" at line {line}")
        console.print(Padding(heading, INDENT))
        console.print(Padding(_finding(result, policies), NARROW_INDENT))


# the grid's columns: line, verdict, severity (fixed widths), then the finding; two spaces between
_WIDTHS = (5, 6, 8)
_GAP = 2


def _plain_grid(rows: Sequence[Result], policies: Mapping[str, Policy], width: int) -> str | None:
    """The lines rich draws for ``_result_grid`` without colour, or None where it may differ.

    rich lays out every cell of every grid afresh: a scan with a hundred thousand findings
    took 38 s to draw. Rows of printable ASCII are the same text when wrapped with rich's
    own line breaking (``divide_line``); anything else goes to rich.
    """
    indent = " " * (INDENT[3] + sum(_WIDTHS) + _GAP * len(_WIDTHS))
    room = width - len(indent)
    out: list[str] = []
    for result in rows:
        line, verdict, severity = _plain_cells(result)
        message, detail = _finding_parts(result, policies)
        if len(line) > _WIDTHS[0] or room < 10:
            return None
        wrapped: list[str] = []
        for part in (*message.split("\n"), detail):
            if not (part.isascii() and part.isprintable()) or part != part.strip():
                return None
            if len(part) <= room:
                wrapped.append(part)
                continue
            breaks = [0, *divide_line(part, room, fold=True), len(part)]
            wrapped.extend(part[start:end].rstrip() for start, end in itertools.pairwise(breaks))
        first = f"{' ' * INDENT[3]}{line:>5}  {verdict:<6}  {severity:<8}  {wrapped[0]}".rstrip()
        out.append(first + "\n")
        out.extend(f"{indent}{piece}".rstrip() + "\n" for piece in wrapped[1:])
    return "".join(out)


def _result_grid(rows: Sequence[Result], policies: Mapping[str, Policy]) -> Table:
    # fixed widths keep the columns of every resource aligned under one another
    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="right", width=5)
    grid.add_column(width=6)
    grid.add_column(width=8)
    grid.add_column(overflow="fold")
    for result in rows:
        grid.add_row(*_cells(result, policies))
    return grid


def _cells(result: Result, policies: Mapping[str, Policy]) -> tuple[Text, ...]:
    line, verdict, severity = _plain_cells(result)
    verdict_style = WAIVED_STYLE if result.waiver else VERDICT_STYLES[result.verdict]
    return (
        Text(line),
        Text(verdict, style=verdict_style),
        Text(severity, style=SEVERITY_STYLES[result.severity]),
        _finding(result, policies),
    )


def _plain_cells(result: Result) -> tuple[str, str, str]:
    """The line, verdict and severity columns as text."""
    line = str(result.location.line) if result.location.line else ""
    return line, "waived" if result.waiver else result.verdict.value, result.severity.label


def _finding(result: Result, policies: Mapping[str, Policy]) -> Text:
    message, detail = _finding_parts(result, policies)
    finding = Text(message)
    finding.append("\n")
    finding.append(detail, style="dim")
    return finding


def _finding_parts(result: Result, policies: Mapping[str, Policy]) -> tuple[str, str]:
    """The finding's message, and the policy, rule and path it comes from."""
    policy = policies.get(result.policy)
    message = result.message or (policy.title if policy else "") or result.verdict.value
    detail = f"{result.policy}/{result.rule}"
    if result.location.path:
        detail += f" at {result.location.path}"
    return message, detail


def _problem_grid(report: ScanReport) -> Table:
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for problem in sorted(report.problems):
        where = problem.file + "".join(f":{n}" for n in (problem.line, problem.column) if n)
        message = f"{problem.message} [{problem.field}]" if problem.field else problem.message
        level = Text(problem.level.value, style=LEVEL_STYLES[problem.level])
        grid.add_row(Text(where), level, Text(problem.code), Text(message))
    return grid


def _broken_grid(report: ScanReport) -> Table:
    """One line per broken policy: its name (or ``?``), what it was written as, where, and why."""
    grid = Table.grid(padding=(0, 2))
    for _ in range(3):
        grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for broken in report.broken:
        where = f"{broken.file}:{broken.line}" if broken.line else broken.file
        codes = ", ".join(dict.fromkeys(problem.code for problem in broken.problems))
        grid.add_row(Text(broken.name or "?"), Text(broken.kind or "?"), Text(where), Text(codes))
    return grid


def _skipped_line(report: ScanReport) -> Text:
    reasons = Counter(skipped.reason for skipped in report.skipped)
    detail = ", ".join(f"{reason}: {count}" for reason, count in sorted(reasons.items()))
    return Text(f"{_count(len(report.skipped), 'input')} skipped ({detail})", style="dim")


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
