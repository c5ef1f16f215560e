"""``leitplanke tokens create|list|revoke``: API tokens of subjects, shown once and stored only as a hash."""

from __future__ import annotations

from typing import Annotated

import typer

from leitplanke.cli import servicecommands
from leitplanke.cli.db import DatabaseOpt


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="API tokens of the service.")
    app.command("create")(create_command)
    app.command("list")(list_command)
    app.command("revoke")(revoke_command)
    return app


def create_command(
    subject: Annotated[
        str,
        typer.Option(
            "--subject",
            help="Who the token belongs to: user:<login or e-mail> for a person, service:<name> for a "
            "workload. Required: four eyes compare subjects, so a person's tokens share one.",
        ),
    ],
    role: Annotated[
        str, typer.Option("--role", help="viewer, developer, approver, admin or platform-admin.")
    ],
    team: Annotated[
        str | None, typer.Option("--team", help="The team (every role but platform-admin).")
    ] = None,
    name: Annotated[
        str, typer.Option("--name", help="What the token is for; unique per subject, never reused.")
    ] = "cli",
    database: DatabaseOpt = None,
) -> None:
    """Create a token and print it; it cannot be shown again."""
    from leitplanke.governance import access

    created = access.create_token(
        servicecommands.open_database(database),
        subject=subject,
        name=name,
        role=role,
        team=team,
        actor="cli",
        now=servicecommands.now(),
    )
    typer.echo(created.token)
    typer.echo(
        f"token {created.id} {created.name} of {created.subject} "
        f"({created.role}{' of ' + created.team if created.team else ''})",
        err=True,
    )


def list_command(database: DatabaseOpt = None) -> None:
    """List tokens (never their secrets): id, subject, name, role, team, created, revoked."""
    from leitplanke.governance import access

    for token in access.list_tokens(servicecommands.open_database(database)):
        revoked = token.revoked_at.isoformat() if token.revoked_at else "-"
        fields = (
            token.id,
            token.subject,
            token.name,
            token.role,
            token.team or "-",
            token.created_at.isoformat(),
        )
        typer.echo("\t".join(str(f) for f in (*fields, revoked)))


def revoke_command(
    token_id: Annotated[int, typer.Argument(help="The token's id.")], database: DatabaseOpt = None
) -> None:
    """Revoke a token: it stops working at once."""
    from leitplanke.governance import access

    access.revoke_token(
        servicecommands.open_database(database), token_id=token_id, actor="cli", now=servicecommands.now()
    )
    typer.echo(f"token {token_id} revoked")
