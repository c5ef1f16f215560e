"""``leitplanke test``: run policy unit tests and end with ``N passed, N failed``.

Exit codes: 0 every row holds, 1 some row does not, 2 a policy or test file with an error
(one that does not compile, say), as ``policies lint`` exits for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from leitplanke.core.problems import UsageError
from leitplanke.engine import testing
from leitplanke.sources import configs, files
from leitplanke.sources.configs import permissions


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
    # the suites of other engines load their compatibility modules: not for every command
    from leitplanke.engine.compat.gatekeeper import gatortests
    from leitplanke.engine.compat.kyverno import clitests

    now = datetime.now(UTC)
    report = testing.run_tests(paths or ["."], load_resources=files.load_path, now=now, domain_of=domain_of)
    # Kyverno CLI suites (kyverno-test.yaml) and gator suites (suite.yaml) run as they are,
    # one row per expected result (Kyverno) or per case and engine (Gatekeeper)
    for suites in (
        clitests.run_tests(paths or ["."], load_resources=files.load_path, now=now),
        gatortests.run_tests(paths or ["."], load_resources=files.load_path),
    ):
        report.rows.extend(suites.rows)
        report.problems.extend(suites.problems)
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
                "family": r.family,
                **({"note": r.note} if r.note else {}),
            }
            for r in report.rows
        ]
        typer.echo(orjson.dumps({"rows": rows}, option=orjson.OPT_INDENT_2).decode())
        for problem in report.problems:  # stdout stays one JSON document
            typer.echo(problem.render(), err=True)
    else:
        for problem in report.problems:
            typer.echo(problem.render())
        for row in report.rows:
            if verbose or not row.ok:
                mark = "ok  " if row.ok else "FAIL"
                note = f" ({row.note})" if row.note else ""
                typer.echo(
                    f"{mark} {row.test}:{row.line} {row.policy}/{row.rule or '*'} {row.resource}: "
                    f"expected {row.expected}, got {row.actual}{note}"
                )
    passed, failed = report.passed, report.failed
    typer.echo(f"{passed} passed, {failed} failed", err=fmt == "json")
    if any(p.level.value == "error" for p in report.problems):
        raise typer.Exit(2)  # a policy (or test) that cannot be read or compiled: as ``policies lint``
    if failed:
        raise typer.Exit(1)


def domain_of(body: Mapping[str, Any]) -> str:
    """The domain of an inline test resource: a loader's, for a normalised configuration body."""
    if body.get("apiVersion") == configs.API_VERSION:
        for loader in (*configs.LOADERS, permissions):
            if body.get("kind") in loader.KINDS:
                return str(loader.DOMAIN)
    return "kubernetes"
