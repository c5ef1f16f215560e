"""``leitplanke users put|list``: the portal's local users (argon2id password hashes, a role in a team)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from leitplanke.cli import servicecommands
from leitplanke.cli.db import DatabaseOpt


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="Local users of the web portal (/portal/).")
    app.command("put")(put_command)
    app.command("list")(list_command)
    return app


def put_command(
    login: Annotated[str, typer.Argument(help="The login; the user's subject is user:<login>.")],
    role: Annotated[
        str, typer.Option("--role", help="viewer, developer, approver, admin or platform-admin.")
    ],
    team: Annotated[
        str | None, typer.Option("--team", help="The team (every role but platform-admin).")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input, not a prompt.")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Create the user, or give an existing one a new password, role and team."""
    from leitplanke.governance import portalusers

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    user = portalusers.put_user(
        servicecommands.open_database(database),
        login=login,
        password=password,
        role=role,
        team=team,
        actor="cli",
        now=servicecommands.now(),
    )
    typer.echo(f"portal user {user.login} ({user.role}{' of ' + user.team if user.team else ''})")


def list_command(database: DatabaseOpt = None) -> None:
    """Every portal user (never a password or its hash)."""
    from leitplanke.governance import portalusers

    for user in portalusers.list_users(servicecommands.open_database(database)):
        state = " disabled" if user.disabled_at else ""
        typer.echo(f"{user.login}\t{user.subject}\t{user.role}\t{user.team or '-'}{state}")
