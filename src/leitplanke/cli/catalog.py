"""``leitplanke catalog apply FILE``: teams, applications and environments from a catalog file."""

from __future__ import annotations

from typing import Annotated

import typer

from leitplanke.cli import servicecommands
from leitplanke.cli.db import DatabaseOpt
from leitplanke.core.problems import UsageError


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="The catalog of teams, applications and environments.")
    app.command("apply")(apply_command)
    return app


def apply_command(
    file: Annotated[
        str, typer.Argument(help="Catalog file: Backstage Group and Component, leitplanke Environment.")
    ],
    database: DatabaseOpt = None,
) -> None:
    """Create or update every entity of FILE (all or nothing)."""
    from leitplanke import catalog

    try:
        with open(file, encoding="utf-8") as stream:
            text = stream.read()
    except OSError as exc:
        raise UsageError(f"{file}: {exc.strerror or exc}") from exc
    parsed, problems = catalog.parse_catalog(text, file=file)
    if problems:
        raise UsageError(f"{file}: {len(problems)} problem(s) in the catalog", problems=tuple(problems))
    applied = catalog.apply_catalog(
        servicecommands.open_database(database), parsed, actor="cli", now=servicecommands.now()
    )
    typer.echo(f"{applied.created} created, {applied.updated} updated, {applied.unchanged} unchanged")
