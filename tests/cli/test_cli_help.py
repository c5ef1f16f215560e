"""``--help`` that reads right: no value name on flags, one on every option that takes a value,
``--version``, and the help texts a new user looks for first."""

from __future__ import annotations

import ast
import re

import pytest
import typer
from typer.core import TyperOption

from leitplanke import __version__
from leitplanke.cli import main
from leitplanke.engine import loading


def _commands(command, path=()):
    yield " ".join(path), command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def _options():
    for path, command in _commands(main.build_command()):
        ctx = typer.Context(command)
        for param in [*command.params, command.get_help_option(ctx)]:
            if isinstance(param, TyperOption):
                yield path, param, param.display_type_rich(ctx)


def test_no_flag_of_any_command_shows_a_value_name():
    shown = {(path, param.opts[0], value) for path, param, value in _options() if param.is_flag and value}

    assert shown == set()


def test_every_option_that_takes_a_value_names_it_in_capitals():
    names = {(path, param.opts[0], value) for path, param, value in _options() if not param.is_flag}

    assert names  # the walk saw the options
    assert {n for n in names if not re.fullmatch(r"[A-Z][A-Z=]*", n[2] or "")} == set()


def test_every_token_option_reads_leitplanke_token_from_the_environment():
    tokens = {(path, param.envvar) for path, param, _ in _options() if "--token" in param.opts}

    assert tokens == {
        ("scan", "LEITPLANKE_TOKEN"),
        ("drift", "LEITPLANKE_TOKEN"),
        ("waivers pull", "LEITPLANKE_TOKEN"),
        ("waivers export", "LEITPLANKE_TOKEN"),
        *((f"change {command}", "LEITPLANKE_TOKEN") for command in ("create", "submit", "approve", "reject")),
        *((f"change {command}", "LEITPLANKE_TOKEN") for command in ("apply", "show", "list")),
        ("dora", "LEITPLANKE_TOKEN"),
    }


def test_version_prints_the_version_as_the_version_command_does(run_cli):
    flag, command = run_cli("--version"), run_cli("version")

    assert (flag.code, flag.stdout, flag.stderr) == (0, f"{__version__}\n", "")
    assert (command.code, command.stdout) == (0, f"{__version__}\n")


def _help(run_cli, *args):
    run = run_cli(*args, "--help", env={"COLUMNS": "2000"})  # one line per option: easy to read back
    assert run.code == 0, run
    return run.stdout


def _option_line(text, option):
    """The row of ``option`` (or command) in a help panel, its blanks squeezed."""
    rows = (" ".join(line.split()) for line in text.splitlines())
    return next(row for row in rows if row.startswith(f"│ {option} "))


def test_scan_help_names_the_configs_it_reads_and_lists_the_packs_with_the_default(run_cli):
    text = _help(run_cli, "scan")

    summary = " ".join(text.split())
    assert (
        "Kubernetes manifests, Helm charts and Kustomize directories, and configs of Envoy, NGINX," in summary
    )
    assert "Kafka, RabbitMQ, Mosquitto, sshd and sysctl (--host: this machine), against policies." in summary
    assert "<bool>" not in text
    assert _option_line(text, "--pack") == (
        f"│ --pack PACK Built-in pack to run (repeatable). Built-in packs: {', '.join(loading.available_packs())}. "
        f"Default: {', '.join(loading.default_packs())}; none: no built-in pack. │"
    )
    assert _option_line(text, "--policies") == (
        "│ --policies -p PATH Policy file or directory (repeatable). Adds to the built-in packs; --pack none "
        "runs only these. A policy named like a built-in one replaces it, with a notice. │"
    )
    assert _option_line(text, "--show-passed") == "│ --show-passed List passing checks in the table. │"
    assert "[env var: LEITPLANKE_TOKEN]" in _option_line(text, "--token")


@pytest.mark.parametrize("command", [(), ("policies",), ("policies", "list")])
def test_help_shows_no_bool_value_names(run_cli, command):
    assert "<bool>" not in _help(run_cli, *command)


def test_the_policies_group_mentions_docs(run_cli):
    text = _help(run_cli)

    assert _option_line(text, "policies") == (
        "│ policies List, show, lint and document policies (docs: a browsable catalog, markdown or html). │"
    )


def test_a_command_line_that_names_a_command_builds_that_command_alone() -> None:
    assert set(main.build_command(["tokens", "list"]).commands) == {"tokens", "version"}
    assert set(main.build_command(["scan", "."]).commands) == {"scan", "version"}
    # no command, an option first or an unknown word: the whole tree, for the help and click's suggestions
    whole = {*main.COMMANDS, "version"}
    for arguments in ([], ["--help"], ["--version"], ["scna"]):
        assert set(main.build_command(arguments).commands) == whole


def test_a_command_starts_without_importing_the_other_commands_modules() -> None:
    import subprocess
    import sys

    probe = (
        "import sys; from leitplanke.cli import main; sys.argv = ['leitplanke', 'tokens', '--help']\n"
        "try:\n    main.run()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith(('leitplanke.engine', 'leitplanke.cli.'))))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(ast.literal_eval(run.stdout.splitlines()[-1]))
    assert "leitplanke.cli.tokens" in loaded
    heavy = {
        "leitplanke.engine",
        *(f"leitplanke.cli.{name}" for name in ("scan", "webhook", "agent", "serve")),
    }
    assert loaded & heavy == set()
