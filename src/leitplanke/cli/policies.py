"""``leitplanke policies list|show|lint|docs``: what policies are loaded and whether they are sound."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import orjson
import typer

from leitplanke import settings
from leitplanke.cli import docs, gathering, terminals
from leitplanke.cli.gathering import ConfigOpt, PackOpt, PoliciesOpt
from leitplanke.core.policies import Policy
from leitplanke.core.problems import UsageError
from leitplanke.engine import loading
from leitplanke.reports import policylists


def build() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True,
        help="List, show, lint and document policies (docs: a browsable catalog, markdown or html).",
    )
    app.command("list")(list_command)
    app.command("show")(show_command)
    app.command("lint")(lint_command)
    app.command("docs")(docs.docs_command)
    return app


def _gather(
    policies: list[str] | None, pack: list[str] | None, config: str | None, *, with_default_packs: bool = True
) -> gathering.Gathered:
    return gathering.gather(
        policy_paths=policies or [],
        packs=pack or [],
        waiver_paths=[],
        config_path=config,
        now=datetime.now(UTC),
        with_default_packs=with_default_packs,
    )


def list_command(
    policies: PoliciesOpt = None,
    pack: PackOpt = None,
    config: ConfigOpt = None,
    all_packs: Annotated[bool, typer.Option("--all", help="Every built-in pack.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", metavar="FORMAT", help="table or json.")] = "table",
    no_color: Annotated[
        bool, typer.Option("--no-color", help="No colour (also with the NO_COLOR environment variable).")
    ] = False,
) -> None:
    """List the policies a scan runs (the default packs unless chosen), with pack, severity, category
    and controls."""
    if fmt not in ("table", "json"):
        raise UsageError(f"unknown format {fmt!r}; use table or json")
    if all_packs:
        pack = loading.available_packs()
    gathered = _gather(policies, pack, config)
    rows = sorted(gathered.policies, key=lambda p: (p.pack, p.id))
    if fmt == "json":
        data = [_summary(p) for p in rows]
        typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
    else:
        terminal = terminals.build_terminal(sys.stdout, no_color=no_color, display=settings.load_display())
        sys.stdout.write(policylists.render(rows, width=terminal.width, color=terminal.color))
    _report_problems(gathered)


def _summary(p: Policy) -> dict[str, object]:
    return {
        "id": p.id,
        "pack": p.pack,
        "title": p.title,
        "severity": p.severity.label,
        "category": p.category,
        "controls": list(p.controls),
        "rules": [r.name for r in p.rules],
        "file": p.source.file,
    }


def show_command(
    policy_id: Annotated[str, typer.Argument(help="Policy id.")],
    policies: PoliciesOpt = None,
    pack: PackOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show one policy: metadata, rationale, remediation and rules."""
    gathered = _gather(policies, pack or loading.available_packs(), config)
    found = [p for p in gathered.policies if p.id == policy_id]
    if not found:
        typer.echo(f"no policy {policy_id!r}", err=True)
        raise typer.Exit(2)
    p = found[0]
    lines = [
        f"{p.id}: {p.title}",
        f"  pack:        {p.pack or '-'}",
        f"  severity:    {p.severity.label}",
        f"  category:    {p.category}",
        f"  controls:    {', '.join(p.controls)}",
        f"  source:      {p.source.file}:{p.source.line}",
        f"  description: {p.description}",
        f"  remediation: {p.remediation}",
        "  rules:",
    ]
    for rule in p.rules:
        safety = "" if rule.fix is None else " (fixable, safe)" if rule.fix.safe else " (fixable, unsafe)"
        lines.append(f"  - {rule.name}{safety}")
        if rule.for_each:
            lines.append(f"      forEach:  {rule.for_each}")
        lines.append(f"      validate: {rule.validate}")
        if rule.fix is not None and rule.fix.description:
            lines.append(f"      fix:      {rule.fix.description}")
    typer.echo("\n".join(lines))


def lint_command(policies: PoliciesOpt = None, pack: PackOpt = None, config: ConfigOpt = None) -> None:
    """Load and compile policies; report every problem with file, line and field. With --policies
    alone, only those (no built-in pack)."""
    gathered = _gather(policies, pack, config, with_default_packs=False)  # what was given, alone
    gathering.compile_gathered(gathered)
    for problem in sorted(gathered.problems):
        typer.echo(problem.render())
    errors = sum(1 for p in gathered.problems if p.level.value == "error")
    typer.echo(f"{len(gathered.policies)} policies, {errors} errors")
    if errors:
        raise typer.Exit(2)


def _report_problems(gathered: gathering.Gathered) -> None:
    for problem in sorted(gathered.problems):
        typer.echo(problem.render(), err=True)
    if gathered.has_errors:
        raise typer.Exit(2)
