"""``leitplanke templates list|show|render``: the application services library in the shell.

``render`` validates the parameters (``--set``, ``--values``), writes the manifests (stdout or
``--output``) and with ``--check`` runs the pre-flight; the work is ``catalog.scaffolding``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from leitplanke.core.problems import Problem, UsageError

EXIT_FAILING = 1
FORMATS = ("text", "json")


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="The application services library (golden-path templates).")
    app.command("list")(list_command)
    app.command("show")(show_command)
    app.command("render")(render_command)
    return app


FormatOpt = Annotated[str, typer.Option("--format", "-f", help="text or json.")]


def list_command(fmt: FormatOpt = "text") -> None:
    """List the templates: name, owner, title and the kinds they create."""
    listing = [t.summary() for t in _library().listing()]
    if _format(fmt) == "json":
        typer.echo(json.dumps(listing, indent=2))
        return
    width = max((len(t["name"]) for t in listing), default=4)
    for template in listing:
        typer.echo(f"{template['name']:<{width}}  {template['owner']:<24}  {template['title']}")


def show_command(
    name: Annotated[str, typer.Argument(help="Template name.")], fmt: FormatOpt = "text"
) -> None:
    """Show a template: its docs and its parameters (name, type, default, description)."""
    template = _template(name)
    if _format(fmt) == "json":
        typer.echo(json.dumps(template.details(), indent=2))
        return
    typer.echo(f"{template.name}: {template.title} (owner: {template.owner})\n")
    typer.echo(template.docs.rstrip() + "\n")
    typer.echo("Parameters:")
    required = set(template.parameters.get("required") or ())
    for key, schema in (template.parameters.get("properties") or {}).items():
        kind = schema.get("type", "") if isinstance(schema, Mapping) else ""
        default = json.dumps(schema.get("default")) if "default" in schema else "(required)"
        text = schema.get("title") or schema.get("description") or ""
        mark = "*" if key in required else " "
        typer.echo(f" {mark}{key:<22} {kind:<8} {default:<30} {text}")


def render_command(
    name: Annotated[str, typer.Argument(help="Template name.")],
    set_values: Annotated[
        list[str] | None,
        typer.Option("--set", help="A parameter, KEY=VALUE (VALUE read as YAML); repeatable."),
    ] = None,
    values_file: Annotated[
        str | None, typer.Option("--values", help="YAML file of parameters; --set wins over it.")
    ] = None,
    app: Annotated[str, typer.Option("--app", help="The application's name.")] = "my-app",
    team: Annotated[str, typer.Option("--team", help="The owning team.")] = "my-team",
    environment: Annotated[str, typer.Option("--environment", help="The target environment.")] = "dev",
    namespace: Annotated[str, typer.Option("--namespace", help="Namespace (default: the app's name).")] = "",
    mode: Annotated[
        str, typer.Option("--mode", help="The environment's mode for --check: audit, warn or enforce.")
    ] = "enforce",
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Write one file per manifest into this directory.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Pre-flight: check the manifests with every built-in pack.")
    ] = False,
) -> None:
    """Render a template's manifests with your parameters; --check runs the pre-flight (exit 1 when
    a policy fails in an enforcing environment)."""
    from leitplanke.catalog import preflighting, scaffolding, templating

    template = _template(name)
    values = {**_values_file(values_file), **parse_set_values(set_values or [])}
    target = scaffolding.Target(app=app, team=team, environment=environment, namespace=namespace)
    jinja = templating.build_environment()
    if check:
        result = scaffolding.scaffold(
            template,
            values=values,
            target=target,
            mode=_mode(mode),
            checker=preflighting.Checker(),
            environment=jinja,
            now=_now(),
        )
    else:
        result = scaffolding.render(template, values=values, target=target, environment=jinja)
    if result.errors:
        problems = tuple(Problem(name, 0, e.code, e.message, field=e.path) for e in result.errors)
        raise UsageError(f"{name}: {len(problems)} invalid parameter(s)", problems=problems)
    _write(result.files, output=output)
    if result.preflight is not None:
        _report(result.preflight)
        if not result.preflight.allowed:
            raise typer.Exit(EXIT_FAILING)


def parse_set_values(items: Sequence[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs (VALUE read as a YAML scalar or flow value; ``a.b=1`` nests)."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--set {item!r}: use KEY=VALUE")
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        *parents, last = key.split(".")
        target = values
        for parent in parents:
            nested = target.setdefault(parent, {})
            if not isinstance(nested, dict):
                raise UsageError(f"--set {item!r}: {parent} is not an object")
            target = nested
        target[last] = value
    return values


def _values_file(path: str | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the parameters are a mapping")
    return data


def _write(files: Sequence[Any], *, output: str | None) -> None:
    if output is None:
        for index, file in enumerate(files):
            separator = "---\n" if index else ""
            typer.echo(f"{separator}# Source: {file.name}\n{file.text.rstrip()}")
        return
    directory = Path(output)
    directory.mkdir(parents=True, exist_ok=True)
    for file in files:
        (directory / file.name).write_text(file.text, encoding="utf-8")
    typer.echo(f"wrote {len(files)} file(s) to {directory}", err=True)


def _report(preflight: Any) -> None:
    for result in [*preflight.failing, *preflight.warnings]:
        where = f"{result.location.file}:{result.location.line}"
        typer.echo(
            f"{result.verdict.value:<5} {result.policy}/{result.rule} {where} {result.message}", err=True
        )
    for problem in preflight.problems:
        typer.echo(problem.render(), err=True)
    typer.echo(
        f"pre-flight ({preflight.mode}): {preflight.outcome}; {len(preflight.failing)} failing, "
        f"{len(preflight.warnings)} warning(s), {len(preflight.results)} result(s) "
        f"from {preflight.policies} policies",
        err=True,
    )


def _library() -> Any:
    from leitplanke.catalog import templatelibrary

    library = templatelibrary.load_library()
    if library.problems:
        raise UsageError("the template library has problems", problems=tuple(library.problems))
    return library


def _template(name: str) -> Any:
    template = _library().named(name)
    if template is None:
        known = ", ".join(t.name for t in _library().listing())
        raise UsageError(f"no template {name!r}; known: {known}")
    return template


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise UsageError(f"--format {fmt!r}: use text or json")
    return fmt


def _mode(mode: str) -> str:
    if mode not in ("audit", "warn", "enforce"):
        raise UsageError(f"--mode {mode!r}: use audit, warn or enforce")
    return mode


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)
