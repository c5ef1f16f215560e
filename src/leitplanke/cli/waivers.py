"""``leitplanke waivers pull|export``: the service's active waivers as files for the CLI and for Kyverno.

``pull`` writes ``kind: Waiver`` documents that ``scan --waivers`` reads; ``export --format kyverno``
writes Kyverno ``PolicyException`` objects. Both ask ``URL/api/v1/waivers/export`` with a token.
"""

from __future__ import annotations

import sys
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Annotated

import typer

from leitplanke.cli import credentials
from leitplanke.core.problems import ServiceRefused, ServiceUnreachable, UsageError

Fetch = Callable[[str, Mapping[str, str]], str]


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="Waivers of the governance service, as files.")
    app.command("pull")(pull_command)
    app.command("export")(export_command)
    return app


ServerOpt = Annotated[str, typer.Option("--server", help="The service's URL.")]
AppOpt = Annotated[str, typer.Option("--app", help="The application.")]
OutputOpt = Annotated[
    str | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
]


def pull_command(
    server: ServerOpt,
    app: AppOpt,
    env: Annotated[str, typer.Option("--env", help="The environment.")],
    output: OutputOpt = None,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Write the active waivers of an app in an env as ``kind: Waiver`` files for ``scan --waivers``
    (a viewer token or more, from --token-file, LEITPLANKE_TOKEN or --token)."""
    found = credentials.require_token(token, token_file, command="waivers pull")
    _write(fetch_waivers(server=server, token=found, app=app, env=env, format="native"), output)


def export_command(
    server: ServerOpt,
    app: AppOpt,
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="kyverno or native.")] = "kyverno",
    output: OutputOpt = None,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Write the active waivers of an app as Kyverno PolicyExceptions (or native waiver files); a
    viewer token or more, from --token-file, LEITPLANKE_TOKEN or --token."""
    if format not in ("kyverno", "native"):
        raise UsageError(f"--format {format!r}: use kyverno or native")
    found = credentials.require_token(token, token_file, command="waivers export")
    _write(fetch_waivers(server=server, token=found, app=app, env=env, format=format), output)


def fetch_waivers(
    *, server: str, token: str, app: str, env: str | None, format: str, fetch: Fetch | None = None
) -> str:
    """The YAML text of ``GET /api/v1/waivers/export``; ``fetch`` replaces HTTP in tests."""
    query = {"app": app, "format": format} | ({"env": env} if env else {})
    url = f"{server.rstrip('/')}/api/v1/waivers/export?{urllib.parse.urlencode(query)}"
    return (fetch or _http_get)(url, {"Authorization": f"Bearer {token}", "Accept": "application/yaml"})


def _http_get(url: str, headers: Mapping[str, str]) -> str:
    import urllib.error  # with http.client and ssl: only when a server is asked
    import urllib.request

    request = urllib.request.Request(url, headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text: str = response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise ServiceRefused(f"{url} refused ({exc.code}): {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:  # no answer: connection refused, DNS, TLS, timeout
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ServiceUnreachable(f"could not reach {url}: {reason}") from exc
    return text


def _write(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    try:
        with open(output, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as exc:
        raise UsageError(f"{output}: cannot write: {exc.strerror or exc}") from exc
    count = text.count("\nkind: ") + text.startswith("kind: ")
    typer.echo(f"{count} waivers written to {output}", err=True)
