import dataclasses
from datetime import datetime

from leitplanke.core.policies import Policy
from leitplanke.core.problems import Level, Problem
from leitplanke.core.results import ScanReport, Verdict
from leitplanke.reports import tables


def test_the_table_shows_failures_warnings_and_errors_by_file_and_resource(report, policies, now, golden):
    golden("table.txt", tables.render(report, policies=policies, now=now, color=False, width=100))


def test_passed_and_skipped_checks_are_shown_only_on_request(report, policies, now, golden):
    text = tables.render(report, policies=policies, now=now, show_passed=True)
    golden("table-show-passed.txt", text)
    hidden = tables.render(report, policies=policies, now=now)
    assert "Pod/debug" in text
    assert "Pod/debug" not in hidden
    assert "jobs do not serve traffic" not in hidden


def test_colors_are_ansi_codes_that_do_not_depend_on_the_terminal(report, policies, now, golden, monkeypatch):
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("COLUMNS", "40")
    monkeypatch.setenv("NO_COLOR", "1")
    text = tables.render(report, policies=policies, now=now, color=True, width=100)
    golden("table-color.txt", text)
    assert "\x1b[1;31mcritical" in text


def test_plain_output_has_no_escape_codes_even_when_the_environment_forces_color(
    report, policies, now, monkeypatch
):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    text = tables.render(report, policies=policies, now=now, color=False)
    assert "\x1b" not in text


def test_the_summary_line_counts_resources_checks_verdicts_problems_and_waivers(report):
    assert tables.render_summary_line(report) == (
        "5 resources, 10 checks: 3 passed, 3 failed, 1 warning, 1 error, 2 skipped; 1 problem, 1 waived"
    )


def test_the_summary_line_of_an_empty_scan_uses_plurals_and_leaves_out_waivers():
    assert tables.render_summary_line(ScanReport()) == (
        "0 resources, 0 checks: 0 passed, 0 failed, 0 warnings, 0 errors, 0 skipped; 0 problems"
    )


def test_the_summary_line_is_the_last_line_and_never_wrapped(report, policies, now):
    text = tables.render(report, policies=policies, now=now, width=40)
    assert text.endswith(tables.render_summary_line(report) + "\n")


def test_problems_are_listed_with_file_line_column_level_and_code(report, policies, now):
    report.problems.append(
        Problem("policies/p.yaml", 12, "cel.syntax", "unexpected token", field="spec.rules[2]")
    )
    report.problems.append(Problem("values.yaml", 0, "helm.values", "unused key", level=Level.WARNING))
    text = tables.render(report, policies=policies, now=now, width=120)
    problem_lines = text.split("Problems\n")[1].split("\n\n")[0].splitlines()
    assert [line.split() for line in problem_lines] == [
        [
            "manifests/shop/broken.yaml:3:9",
            "error",
            "yaml.syntax",
            "mapping",
            "values",
            "are",
            "not",
            "allowed",
            "here",
        ],
        ["policies/p.yaml:12", "error", "cel.syntax", "unexpected", "token", "[spec.rules[2]]"],
        ["values.yaml", "warning", "helm.values", "unused", "key"],
    ]


def test_a_scan_without_findings_says_so(policies: dict[str, Policy], now: datetime):
    text = tables.render(ScanReport(documents=1), policies=policies, now=now)
    assert text == (
        "No failed, warning or error checks.\n\n"
        "1 resource, 0 checks: 0 passed, 0 failed, 0 warnings, 0 errors, 0 skipped; 0 problems\n"
    )


def test_brackets_in_messages_are_text_not_markup(report, policies, now):
    report.results[:] = [dataclasses.replace(r, message="[bold]x[/bold] at [red]y") for r in report.results]
    text = tables.render(report, policies=policies, now=now, color=True)
    assert text.count("[bold]x[/bold] at [red]y") == 6


def test_plain_rows_are_drawn_as_rich_draws_them_whatever_their_length(report, policies, now, monkeypatch):
    # words longer than the column fold, lines exactly as wide as it, runs of spaces,
    # non-ASCII (drawn by rich itself), five-digit lines, messages with line breaks
    messages = [
        "x" * 150,
        "y" * 71,
        "word " * 30,
        "a  b   c    " * 8 + "end",
        "ünïcödé müst gö thröügh rïch " * 4,
        "first line\nsecond line that is long enough to wrap around the column of findings",
        "-" * 70 + " tail",
    ]
    base = report.results[0]
    results = [
        dataclasses.replace(
            base,
            verdict=Verdict.FAIL,
            message=message,
            location=dataclasses.replace(base.location, line=line, index=i),
        )
        for i, (message, line) in enumerate(zip(messages, [1, 99999, 7, 0, 12, 3, 42], strict=True))
    ]
    wide = ScanReport(results=results, documents=len(results)).finish()
    assert tables._plain_grid(results[:2], policies, 100) is not None  # drawn without rich
    assert tables._plain_grid(results[4:5], policies, 100) is None  # non-ASCII: rich draws it
    fast = tables.render(wide, policies=policies, now=now, color=False, width=100)
    monkeypatch.setattr(tables, "_plain_grid", lambda *args: None)
    assert fast == tables.render(wide, policies=policies, now=now, color=False, width=100)
    assert "x" * 71 in fast and "ünïcödé" in fast
