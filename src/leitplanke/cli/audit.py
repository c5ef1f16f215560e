"""``leitplanke audit verify|export|public-key``: check and export the audit chain straight from the database.

``verify`` checks the keyed chain, its leaves and the signed checkpoint (incremental from the last
verified head unless ``--full``); ``public-key`` prints the key that checkpoints are signed with.
"""

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
    app.command("public-key")(public_key_command)
    return app


def verify_command(
    database: DatabaseOpt = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Recompute the whole chain, not only what follows the last verified head."
        ),
    ] = False,
) -> None:
    """Check the keyed chain, its leaves and the latest signed checkpoint; exit 1 naming each problem."""
    from leitplanke.governance import auditverifying

    outcome = auditverifying.verify_database(
        servicecommands.open_database(database, migrate=False), full=full
    )
    point = outcome.checkpoint
    anchored = "no checkpoint" if point is None else f"checkpoint at seq {point.seq}"
    scope = "full" if outcome.full else "incremental"
    if outcome.ok:
        typer.echo(
            f"audit chain intact: {outcome.records} records ({outcome.checked} checked, {scope}), "
            f"head {outcome.head}, {anchored}"
        )
        raise typer.Exit(EXIT_OK)
    for problem in outcome.problems:
        where = "" if problem.seq is None else f" at seq {problem.seq}"
        typer.echo(f"audit chain broken: {problem.code}{where}: {problem.detail}", err=True)
    raise typer.Exit(EXIT_BROKEN)


def public_key_command() -> None:
    """Print the public key (PEM) that verifies the audit checkpoints' signatures."""
    from leitplanke import settings as settings_module

    keys = servicecommands.audit_keys(settings_module.load_settings())
    typer.echo(keys.public_pem(), nl=False)


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
