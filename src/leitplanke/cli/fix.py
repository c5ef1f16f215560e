"""``leitplanke fix``: apply the mechanical fixes of failing rules to the files in place.

``--diff`` prints a unified diff instead of writing. Fixes that need a human
decision are not applied; their remediation text says what to do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leitplanke import engine
from leitplanke.cli import gathering, scan
from leitplanke.core.results import Result, Verdict
from leitplanke.sources import parsing

if TYPE_CHECKING:
    from leitplanke.engine import fixing

FIXABLE_SUFFIXES = (".yaml", ".yml")


def fix_command(
    paths: Annotated[list[str], typer.Argument(help="Files or directories to fix.")],
    policies: gathering.PoliciesOpt = None,
    pack: gathering.PackOpt = None,
    config: gathering.ConfigOpt = None,
    diff: Annotated[bool, typer.Option("--diff", help="Show a unified diff; write nothing.")] = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (0: one per core).")] = 0,
) -> None:
    """Fix what can be fixed mechanically, keeping comments, key order, quoting and indentation."""
    now = datetime.now(UTC)
    gathered = gathering.gather(
        policy_paths=policies or [], packs=pack or [], waiver_paths=[], config_path=config, now=now
    )
    policy_set = gathering.compile_gathered(gathered)
    if gathered.has_errors:
        for problem in sorted(gathered.problems):
            typer.echo(problem.render(), err=True)
        raise typer.Exit(2)
    report = scan.run_scan(
        paths, policy_set=policy_set, waivers=[], now=now, jobs=jobs, helm_values=[], helm_set=[]
    )
    from leitplanke.engine import fixing  # ruamel.yaml: only when fixing

    applied = files_changed = 0
    for file, results in sorted(fixing.fixable(report.results).items()):
        target = Path(file)
        if target.suffix not in FIXABLE_SUFFIXES or not target.is_file():
            typer.echo(
                f"{file}: not a YAML file on disk (rendered or JSON input); fix it at its source", err=True
            )
            continue
        outcome = _fix_until_stable(
            target.read_text(encoding="utf-8"), results, file=file, policy_set=policy_set, now=now
        )
        for problem in outcome.problems:
            typer.echo(problem.render(), err=True)
        if not outcome.changed:
            continue
        applied += len(outcome.applied)
        files_changed += 1
        if diff:
            typer.echo(outcome.diff(), nl=False)
        else:
            target.write_text(outcome.fixed, encoding="utf-8")
    manual = sum(1 for r in report.results if r.verdict is Verdict.FAIL and r.fix is None)
    verb = "would apply" if diff else "applied"
    typer.echo(
        f"{verb} {applied} fixes in {files_changed} files; {manual} failing results need a human decision "
        "(see the remediation of their policy)",
        err=True,
    )


MAX_ROUNDS = 3


def _fix_until_stable(
    text: str,
    results: list[Result],
    *,
    file: str,
    policy_set: engine.PolicySet,
    now: datetime,
) -> fixing.FileFix:
    """Fix, re-scan the fixed text, fix again: two fixes may touch one list (drop ALL, drop NET_RAW)."""
    from leitplanke.engine import fixing

    outcome = fixing.fix_text(text, results, file=file)
    for _ in range(MAX_ROUNDS - 1):
        if not outcome.changed:
            break
        fixed = outcome.fixed
        rescan = engine.Collected()
        engine.scan(
            policy_set,
            [fixed],
            rescan,
            load=lambda t: parsing.parse_documents(t.encode("utf-8"), file=file),
            now=now,
            jobs=1,
        )
        more = fixing.fixable(rescan.results).get(file, [])
        following = fixing.fix_text(fixed, more, file=file) if more else None
        if following is None or not following.changed:
            break
        outcome = fixing.FileFix(
            file=file,
            original=text,
            fixed=following.fixed,
            applied=outcome.applied + following.applied,
            problems=outcome.problems + following.problems,
        )
    return outcome
