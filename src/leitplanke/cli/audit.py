"""``leitplanke audit verify|export``: check and export the audit chain straight from the database."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from leitplanke.cli import servicecommands
from leitplanke.cli.db import DatabaseOpt
from leitplanke.core.problems import UsageError

EXIT_OK, EXIT_BROKEN = 0, 1


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")
    app.command("verify")(verify_command)
    app.command("export")(export_command)
    return app


def verify_command(database: DatabaseOpt = None) -> None:
    """Recompute every hash; exit 1 and name the first bad record if the chain was tampered with."""
    from leitplanke.governance import auditing

    outcome = auditing.verify_database(servicecommands.open_database(database, migrate=False))
    if outcome.first_bad_seq is None:
        typer.echo(f"audit chain intact: {outcome.records} records, head {outcome.head}")
        raise typer.Exit(EXIT_OK)
    typer.echo(f"audit chain broken: first bad record is seq {outcome.first_bad_seq}", err=True)
    raise typer.Exit(EXIT_BROKEN)


def export_command(
    database: DatabaseOpt = None,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Write every record as JSON Lines, in sequence order."""
    from leitplanke.governance import auditing

    db = servicecommands.open_database(database, migrate=False)
    if output is None:
        auditing.export(db, sys.stdout)
        return
    try:
        with open(output, "w", encoding="utf-8") as stream:
            count = auditing.export(db, stream)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    typer.echo(f"{count} records written to {output}", err=True)
