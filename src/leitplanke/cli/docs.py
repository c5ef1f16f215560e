"""``leitplanke policies docs``: write the catalog of every policy as one Markdown or HTML file.

Registered by ``cli.policies``; the catalog itself is rendered by ``reports.catalogs``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from leitplanke.cli import gathering
from leitplanke.cli.gathering import ConfigOpt, PackOpt, PoliciesOpt
from leitplanke.core.problems import UsageError
from leitplanke.engine import loading
from leitplanke.reports import catalogs

CATALOG_NAME = "policies"
# the short names users type, as the file suffixes say them
FORMAT_ALIASES = {"md": "markdown"}


def docs_command(
    policies: PoliciesOpt = None,
    pack: PackOpt = None,
    config: ConfigOpt = None,
    all_packs: Annotated[bool, typer.Option("--all", help="Every built-in pack.")] = False,
    fmt: Annotated[
        str, typer.Option("--format", "-f", metavar="FORMAT", help="markdown (or md) or html.")
    ] = "markdown",
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="File, or directory to write policies.md or policies.html into."),
    ] = None,
) -> None:
    """Write a browsable catalog: every policy with its controls, rationale, remediation and rules."""
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in catalogs.FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use markdown (md) or html")
    gathered = gathering.gather(
        policy_paths=policies or [],
        packs=loading.available_packs() if all_packs else pack or [],
        waiver_paths=[],
        config_path=config,
        now=datetime.now(UTC),
    )
    for problem in sorted(gathered.problems):
        typer.echo(problem.render(), err=True)
    if gathered.has_errors:
        raise typer.Exit(2)
    text = catalogs.render(fmt, gathered.policies)
    if output is None:
        sys.stdout.write(text)
        return
    target = catalog_path(output, fmt)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{target}: cannot write the catalog: {exc.strerror or exc}") from exc
    typer.echo(f"catalog of {len(gathered.policies)} policies written to {target}", err=True)


def catalog_path(output: str, fmt: str) -> Path:
    """``output`` itself, or ``policies.<suffix>`` inside it when it is (or ends like) a directory."""
    path = Path(output)
    if path.is_dir() or output.endswith(("/", "\\")):
        return path / f"{CATALOG_NAME}{catalogs.SUFFIXES[fmt]}"
    return path
