"""``leitplanke fix``: apply the mechanical fixes of failing rules to the files in place.

``--diff`` prints a unified diff instead of writing (exit 1 when it shows a change). Fixes
that change what a workload does are applied only with ``--unsafe-fixes``; a rule whose
repair needs a human decision has no fix, its policy's remediation says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    diff: Annotated[
        bool, typer.Option("--diff", help="Show a unified diff; write nothing; exit 1 if it shows a change.")
    ] = False,
    unsafe_fixes: Annotated[
        bool,
        typer.Option(
            "--unsafe-fixes",
            help="Also apply the fixes that change what a workload does (removing hostNetwork, "
            "turning off token automount, …); without it they are listed and left out.",
        ),
    ] = False,
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

    tally = _Tally()
    for file, results in sorted(fixing.fixable(report.results).items()):
        target = Path(file)
        if target.suffix not in FIXABLE_SUFFIXES or not target.is_file():
            typer.echo(
                f"{file}: not a YAML file on disk (rendered or JSON input); fix it at its source", err=True
            )
            continue
        outcome = _fix_until_stable(
            target.read_text(encoding="utf-8"),
            results,
            file=file,
            policy_set=policy_set,
            now=now,
            unsafe=unsafe_fixes,
            left_out=tally.left_out,
        )
        for problem in outcome.problems:
            typer.echo(problem.render(), err=True)
        if not outcome.changed:
            continue
        tally.applied += len(outcome.applied)
        tally.files += 1
        if diff:
            typer.echo(outcome.diff(), nl=False)
        else:
            target.write_text(outcome.fixed, encoding="utf-8")
    manual = sum(1 for r in report.results if r.verdict is Verdict.FAIL and r.fix is None)
    for line in tally.render_left_out():
        typer.echo(line, err=True)
    verb = "would apply" if diff else "applied"
    unsafe_note = f"; {_fixes(len(tally.left_out), 'unsafe ')} left out (--unsafe-fixes applies them)"
    files = f"{tally.files} file{'' if tally.files == 1 else 's'}"
    typer.echo(
        f"{verb} {_fixes(tally.applied)} in {files}{unsafe_note if tally.left_out else ''}; "
        f"{manual} failing results need a human decision (see the remediation of their policy)",
        err=True,
    )
    if diff and tally.files:
        raise typer.Exit(1)  # as ruff --diff and git diff --exit-code: a change to make is a finding


def _fixes(count: int, kind: str = "") -> str:
    return f"{count} {kind}fix{'' if count == 1 else 'es'}"


@dataclass(slots=True)
class _Tally:
    applied: int = 0
    files: int = 0
    # an unsafe fix that was left out, by file, place and what it does: the first sighting
    # keeps the line of the original file (a later round sees the text the safe fixes left)
    left_out: dict[tuple[str, str, str], Result] = field(default_factory=dict)

    def render_left_out(self) -> list[str]:
        from leitplanke.engine import fixing

        if not self.left_out:
            return []
        head = (
            f"{_fixes(len(self.left_out), 'unsafe ')} left out: they change what the workload does; "
            "review, then apply with --unsafe-fixes:"
        )
        return [head] + [
            f"  {result.location.file}:{result.location.line}: {fixing.explain(result)}"
            for result in sorted(
                self.left_out.values(), key=lambda r: (r.location.file, r.location.line, fixing.explain(r))
            )
        ]


MAX_ROUNDS = 3


def _fix_until_stable(
    text: str,
    results: list[Result],
    *,
    file: str,
    policy_set: engine.PolicySet,
    now: datetime,
    unsafe: bool,
    left_out: dict[tuple[str, str, str], Result],
) -> fixing.FileFix:
    """Fix, re-scan the fixed text, fix again: two fixes may touch one list (drop ALL, drop NET_RAW).

    Each round applies the safe fixes (all of them with ``unsafe``) and adds the others to
    ``left_out``.
    """
    from leitplanke.engine import fixing

    def chosen(candidates: list[Result]) -> list[Result]:
        applied, skipped = fixing.choose(candidates, unsafe=unsafe)
        for result in skipped:
            where = str((result.fix or {}).get("path", ""))
            left_out.setdefault((result.location.file, where, fixing.explain(result)), result)
        return applied

    outcome = fixing.fix_text(text, chosen(results), file=file)
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
        more = chosen(fixing.fixable(rescan.results).get(file, []))
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
