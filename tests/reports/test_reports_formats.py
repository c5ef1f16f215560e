import ast
import random
from pathlib import Path

import pytest

import leitplanke.reports
from leitplanke.core.problems import UsageError
from leitplanke.reports import (
    FORMATS,
    TableView,
    jsonreports,
    junit,
    policyreports,
    render_report,
    sarif,
    tables,
)

MODULES = {
    "json": jsonreports,
    "sarif": sarif,
    "junit": junit,
    "policyreport": policyreports,
}


def test_the_formats_are_the_five_documented_ones():
    assert FORMATS == ("table", "json", "sarif", "junit", "policyreport")
    assert leitplanke.reports.__all__ == sorted(leitplanke.reports.__all__)


@pytest.mark.parametrize("fmt", sorted(MODULES))
def test_render_report_dispatches_to_the_module_of_the_format(fmt, report, policies, now):
    assert render_report(fmt, report, policies=policies, now=now) == MODULES[fmt].render(
        report, policies=policies, now=now
    )


def test_the_table_takes_color_width_and_show_passed(report, policies, now):
    chosen = render_report(
        "table", report, policies=policies, now=now, table=TableView(color=True, width=80, show_passed=True)
    )
    assert chosen == tables.render(report, policies=policies, now=now, color=True, width=80, show_passed=True)
    assert render_report("table", report, policies=policies, now=now) == tables.render(
        report, policies=policies, now=now, color=False, width=100
    )


def test_an_unknown_format_is_a_usage_error_that_lists_the_formats(report, policies, now):
    with pytest.raises(UsageError, match="unknown report format 'html'; choose one of table, json, sarif"):
        render_report("html", report, policies=policies, now=now)


@pytest.mark.parametrize("fmt", FORMATS)
def test_output_does_not_depend_on_the_order_the_engine_produced(fmt, report, policies, now):
    before = render_report(fmt, report, policies=policies, now=now)
    random.Random(7).shuffle(report.results)
    report.problems.reverse()
    assert render_report(fmt, report, policies=policies, now=now) == before


def test_renderers_import_only_core_and_their_own_package():
    package = Path(leitplanke.reports.__file__).parent
    imported = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("leitplanke"):
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names if alias.name.startswith("leitplanke"))
    assert {
        name for name in imported if not name.startswith(("leitplanke.core", "leitplanke.reports"))
    } == set()
