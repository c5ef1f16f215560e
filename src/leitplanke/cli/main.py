"""The ``leitplanke`` command: builds the Typer app and maps outcomes to exit codes."""

from __future__ import annotations

import typer


def build_app() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False)

    @app.command()
    def version() -> None:
        """Print the version."""
        from leitplanke import __version__

        typer.echo(__version__)

    return app


def run() -> None:
    build_app()()
