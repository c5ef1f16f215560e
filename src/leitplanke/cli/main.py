"""The ``leitplanke`` command: assembles the command groups and maps outcomes to exit codes.

Exit codes: 0 clean, 1 failing results, 2 usage or policy error, 3 internal error.
"""

from __future__ import annotations

import sys

import typer

from leitplanke.core.problems import LeitplankeError

EXIT_USAGE, EXIT_INTERNAL = 2, 3


def build_app() -> typer.Typer:
    from leitplanke.cli import audit, catalog, db, fix, policies, scan, serve, testcmd, tokens, waivers

    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        help="leitplanke: policies as code for Kubernetes and the configuration around it.",
        pretty_exceptions_enable=False,
    )
    app.command("scan")(scan.scan_command)
    app.command("test")(testcmd.test_command)
    app.command("fix")(fix.fix_command)
    app.add_typer(policies.build(), name="policies")
    app.command("serve")(serve.serve_command)
    app.add_typer(db.build(), name="db")
    app.add_typer(audit.build(), name="audit")
    app.add_typer(catalog.build(), name="catalog")
    app.add_typer(tokens.build(), name="tokens")
    app.add_typer(waivers.build(), name="waivers")

    @app.command()
    def version() -> None:
        """Print the version."""
        from leitplanke import __version__

        typer.echo(__version__)

    return app


def run() -> None:
    app = build_app()
    try:
        code = app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except LeitplankeError as exc:
        typer.echo(f"leitplanke: {exc}", err=True)
        for problem in exc.problems:
            typer.echo(problem.render(), err=True)
        sys.exit(EXIT_USAGE)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except typer.TyperException as exc:
        # an unknown option, a bad option value, no arguments: typer carries its own click, whose
        # exceptions derive from TyperException (not click.ClickException)
        show = getattr(exc, "show", None)
        if show is not None:
            show()
        else:
            typer.echo(f"leitplanke: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except Exception as exc:  # the edge: anything unexpected is an internal error, exit 3
        import traceback

        traceback.print_exc()
        typer.echo(f"leitplanke: internal error: {exc}", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)
