"""The ``leitplanke`` command: assembles the command groups and maps outcomes to exit codes.

Exit codes, each with one meaning:
  0  nothing failing at or above ``--fail-on``
  1  failing results at or above ``--fail-on``, or inputs that could not be read or evaluated
  2  usage or policy error: a bad option, a missing file, a policy that does not load
  3  internal error (a bug: please report it with the traceback)
  4  the governance service could not be reached (``--upload``, ``waivers pull|export``)
  5  the governance service refused the request (a bad token, no permission, a server error)
  130  interrupted (Ctrl-C)
4 and 5 win over 1: the report was written, the upload was not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import typer
from typer.core import TyperArgument, TyperOption

from leitplanke.core.problems import LeitplankeError, ServiceRefused, ServiceUnreachable

EXIT_USAGE, EXIT_INTERNAL, EXIT_UNREACHABLE, EXIT_REFUSED, EXIT_INTERRUPTED = 2, 3, 4, 5, 130
# the value names of options that declare none, by Python type: what click itself would show
_VALUE_NAMES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "Path": "PATH"}


# every command: (its module under ``leitplanke.cli``, its function or group builder, a group?); a
# command's module is imported only when the command line names it (or asks for the full help), so
# that ``leitplanke tokens list`` does not import the engine, the webhook and the agent first
COMMANDS: dict[str, tuple[str, str, bool]] = {
    "scan": ("scan", "scan_command", False),
    "test": ("testcmd", "test_command", False),
    "fix": ("fix", "fix_command", False),
    "drift": ("drift", "drift_command", False),
    "policies": ("policies", "build", True),
    "serve": ("serve", "serve_command", False),
    "webhook": ("webhook", "webhook_command", False),
    "db": ("db", "build", True),
    "audit": ("audit", "build", True),
    "catalog": ("catalog", "build", True),
    "tokens": ("tokens", "build", True),
    "users": ("users", "build", True),  # the portal's local users
    "waivers": ("waivers", "build", True),
    "dora": ("dora", "dora_command", False),
    "templates": ("templates", "build", True),
    "change": ("changes", "build", True),
    "agent": ("agent", "agent_command", False),
    "report": ("report", "build", True),
    "runtime": ("runtime", "build", True),
}


def build_app(only: str | None = None) -> typer.Typer:
    """The command tree; with ``only`` (a command's name), that command alone besides ``version``."""
    import importlib

    app = typer.Typer(
        no_args_is_help=True,
        add_completion=False,
        help="leitplanke: policies as code for Kubernetes and the configuration around it.",
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def root(
        version: bool = typer.Option(
            False, "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ) -> None:
        """leitplanke: policies as code for Kubernetes and the configuration around it."""

    for name, (module_name, attribute, group) in COMMANDS.items():
        if only is not None and name != only:
            continue
        made = getattr(importlib.import_module(f"leitplanke.cli.{module_name}"), attribute)
        if group:
            app.add_typer(made(), name=name)
        else:
            app.command(name)(made)

    @app.command()
    def version() -> None:
        """Print the version (as --version does)."""
        _print_version(True)

    return app


def _print_version(value: bool) -> None:
    if value:
        from leitplanke import __version__

        typer.echo(__version__)
        raise typer.Exit(0)


def build_command(arguments: list[str] | None = None) -> typer.core.TyperGroup:
    """The command tree with help that reads right: flags show no value name, options that take a
    value show one, ``--pack`` lists the built-in packs and the default ones. With ``arguments`` (the
    command line) whose first names a command, that command's branch alone."""
    first = arguments[0] if arguments else None
    command = typer.main.get_command(build_app(first if first in COMMANDS else None))
    assert isinstance(command, typer.core.TyperGroup)
    for each in _commands(command):
        _tidy_help(each)
    return command


def _commands(command: typer.core.TyperGroup | typer.core.TyperCommand) -> Iterator[typer.core.TyperCommand]:
    yield command  # type: ignore[misc]  # a group is a command with subcommands
    for sub in getattr(command, "commands", {}).values():
        yield from _commands(sub)


def _tidy_help(command: typer.core.TyperCommand) -> None:
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, *([help_option] if help_option else [])]:
        if isinstance(param, TyperArgument) or not isinstance(param, TyperOption):
            continue
        if param.is_flag:
            param.metavar = ""  # ``--quiet`` takes no value: ``<bool>`` made it look as if it did
        elif param.metavar is None:
            bare = param.bare_type().removeprefix("list[").removesuffix("]")
            param.metavar = _VALUE_NAMES.get(bare, bare.upper())
        if "--pack" in param.opts:
            param.help = f"{param.help} {_packs_help()}"


def _packs_help() -> str:
    from leitplanke.engine import loading

    return (
        f"Built-in packs: {', '.join(loading.available_packs())}. "
        f"Default: {', '.join(loading.default_packs())}; none: no built-in pack."
    )


def run() -> None:
    try:
        command = build_command(sys.argv[1:])
        code = command(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except LeitplankeError as exc:
        typer.echo(f"leitplanke: {exc}", err=True)
        for problem in exc.problems:
            typer.echo(problem.render(), err=True)
        sys.exit(_exit_code_of(exc))
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(EXIT_INTERRUPTED)
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


def _exit_code_of(error: LeitplankeError) -> int:
    if isinstance(error, ServiceUnreachable):
        return EXIT_UNREACHABLE
    if isinstance(error, ServiceRefused):
        return EXIT_REFUSED
    return EXIT_USAGE
