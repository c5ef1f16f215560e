"""``leitplanke test``: run policy unit tests and end with ``N passed, N failed``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import orjson
import typer

from leitplanke.core.problems import UsageError
from leitplanke.engine import testing
from leitplanke.sources import files


def test_command(
    paths: Annotated[list[str] | None, typer.Argument(help="Test files or directories.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="text or json.")] = "text",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing rows too.")] = False,
) -> None:
    """Run PolicyTest files: expected verdicts per policy, rule and resource."""
    if fmt not in ("text", "json"):
        raise UsageError(f"unknown format {fmt!r}; use text or json")
    for path in paths or []:
        if not Path(path).exists():  # else a mistyped path in CI reads as "0 passed, 0 failed"
            raise UsageError(f"{path}: no such file or directory")
    report = testing.run_tests(paths or ["."], load_resources=files.load_path, now=datetime.now(UTC))
    if fmt == "json":
        rows = [
            {
                "test": r.test,
                "line": r.line,
                "policy": r.policy,
                "rule": r.rule,
                "resource": r.resource,
                "expected": r.expected,
                "actual": r.actual,
                "ok": r.ok,
            }
            for r in report.rows
        ]
        typer.echo(orjson.dumps({"rows": rows}, option=orjson.OPT_INDENT_2).decode())
    else:
        for problem in report.problems:
            typer.echo(problem.render())
        for row in report.rows:
            if verbose or not row.ok:
                mark = "ok  " if row.ok else "FAIL"
                typer.echo(
                    f"{mark} {row.test}:{row.line} {row.policy}/{row.rule or '*'} {row.resource}: "
                    f"expected {row.expected}, got {row.actual}"
                )
    typer.echo(f"{report.passed} passed, {report.failed} failed")
    if report.failed or any(p.level.value == "error" for p in report.problems):
        raise typer.Exit(1)
