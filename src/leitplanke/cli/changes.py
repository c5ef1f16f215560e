"""``leitplanke change create|submit|approve|reject|apply|show|list``: change requests through the API.

Each command asks ``URL/api/v1/changes…`` with a token (``credentials``) and prints the change in a few
lines (``--json``: the API's answer). ``Send`` is the one seam: HTTP by default, a test client in tests.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from leitplanke.cli import credentials
from leitplanke.core.problems import ServiceRefused, ServiceUnreachable, UsageError

# (method, url, headers, JSON body or None) → the answer's JSON; raises ServiceRefused/ServiceUnreachable
Send = Callable[[str, str, Mapping[str, str], Any], Any]
MAX_MANIFEST_BYTES = 4 * 1024 * 1024


def build() -> typer.Typer:
    app = typer.Typer(
        no_args_is_help=True, help="Change requests: propose, approve and apply through GitOps."
    )
    app.command("create")(create_command)
    app.command("submit")(submit_command)
    app.command("approve")(approve_command)
    app.command("reject")(reject_command)
    app.command("apply")(apply_command)
    app.command("show")(show_command)
    app.command("list")(list_command)
    return app


ServerOpt = Annotated[str, typer.Option("--server", envvar="LEITPLANKE_SERVER", help="The service's URL.")]
IdArg = Annotated[int, typer.Argument(min=1, help="The change's id.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the API's answer as JSON.")]


def create_command(
    server: ServerOpt,
    app: Annotated[str, typer.Option("--app", help="The application.")],
    env: Annotated[str, typer.Option("--env", help="The environment.")],
    title: Annotated[str, typer.Option("--title", help="What the change does, in one line.")],
    manifests: Annotated[Path, typer.Option("--manifests", help="The rendered manifests (YAML).")],
    waiver: Annotated[
        int | None, typer.Option("--waiver", help="An approved waiver for pre-flight failures.")
    ] = None,
    submit: Annotated[bool, typer.Option("--submit", help="Submit it at once.")] = False,
    as_json: JsonOpt = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Propose a change of an app's manifests in an env: its diff and pre-flight are recorded."""
    body = {"app": app, "env": env, "title": title, "manifests": read_manifests(manifests), "submit": submit}
    if waiver is not None:
        body["waiver"] = waiver
    _print(call(server, "POST", "/changes", _token(token, token_file, "create"), body), as_json=as_json)


def submit_command(
    change_id: IdArg,
    server: ServerOpt,
    as_json: JsonOpt = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Submit a draft change for approval (its author)."""
    _step(server, change_id, "submit", None, _token(token, token_file, "submit"), as_json=as_json)


def approve_command(
    change_id: IdArg,
    server: ServerOpt,
    as_json: JsonOpt = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Approve a submitted change (an approver, never its author)."""
    _step(server, change_id, "approve", None, _token(token, token_file, "approve"), as_json=as_json)


def reject_command(
    change_id: IdArg,
    server: ServerOpt,
    note: Annotated[str, typer.Option("--note", help="Why.")] = "",
    as_json: JsonOpt = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Reject a change (an approver, never its author)."""
    _step(server, change_id, "reject", {"note": note}, _token(token, token_file, "reject"), as_json=as_json)


def apply_command(
    change_id: IdArg,
    server: ServerOpt,
    override_window: Annotated[
        bool,
        typer.Option("--override-window", help="Apply outside the sync windows (platform-admin; audited)."),
    ] = False,
    as_json: JsonOpt = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Commit an approved change into the env's GitOps repository."""
    body = {"overrideWindow": override_window}
    _step(server, change_id, "apply", body, _token(token, token_file, "apply"), as_json=as_json)


def show_command(
    change_id: IdArg,
    server: ServerOpt,
    diff: Annotated[bool, typer.Option("--diff", help="Print the diff as well.")] = False,
    as_json: JsonOpt = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """Show a change: state, pre-flight, approvals (and its diff)."""
    found = call(server, "GET", f"/changes/{change_id}", _token(token, token_file, "show"), None)
    _print(found, as_json=as_json, details=True, diff=diff)


def list_command(
    server: ServerOpt,
    app: Annotated[str | None, typer.Option("--app", help="Only this application.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only changes in this state.")] = None,
    as_json: JsonOpt = False,
    token: credentials.TokenOpt = None,
    token_file: credentials.TokenFileOpt = None,
) -> None:
    """List changes, oldest first: id, state, app, env, title."""
    query = {k: v for k, v in (("app", app), ("env", env), ("status", status)) if v}
    path = "/changes" + (f"?{urllib.parse.urlencode(query)}" if query else "")
    found = call(server, "GET", path, _token(token, token_file, "list"), None)
    if as_json:
        typer.echo(json.dumps(found, indent=2, sort_keys=True))
        return
    for change in found:
        typer.echo(render_line(change))


def read_manifests(path: Path) -> str:
    try:
        data = path.read_bytes()[: MAX_MANIFEST_BYTES + 1]
    except OSError as exc:
        raise UsageError(f"--manifests {path}: cannot be read ({exc.strerror or exc})") from exc
    if len(data) > MAX_MANIFEST_BYTES:
        raise UsageError(f"--manifests {path}: more than {MAX_MANIFEST_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--manifests {path}: not UTF-8 text") from exc


def _token(token: str | None, token_file: Path | None, command: str) -> str:
    return credentials.require_token(token, token_file, command=f"change {command}")


def _step(server: str, change_id: int, step: str, body: Any, token: str, *, as_json: bool) -> None:
    _print(call(server, "POST", f"/changes/{change_id}/{step}", token, body or {}), as_json=as_json)


def call(server: str, method: str, path: str, token: str, body: Any, *, send: Send | None = None) -> Any:
    url = f"{server.rstrip('/')}/api/v1{path}"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return (send or _http)(method, url, headers, body)


def render_line(change: Mapping[str, Any]) -> str:
    return f"{change['id']:>5}  {change['status']:<9}  {change['app']}/{change['env']}  {change['title']}"


def render_change(change: Mapping[str, Any], *, diff: bool = False) -> list[str]:
    """A change in lines: headline, author, pre-flight, approvals, commit (and the diff)."""
    preflight = change["preflight"]
    failing = [r for r in preflight.get("results", []) if r.get("verdict") in ("fail", "warn", "error")]
    lines = [
        render_line(change),
        f"author: {change['authorSubject']}   diff: {change['diffHash'][:12]}",
        f"pre-flight ({preflight.get('mode')}): {'BLOCKING' if change['preflightBlocking'] else 'ok'}, "
        f"{len(failing)} failing",
        *(
            f"  {r['verdict']} {r['policy']}/{r['rule']} {r['resource']['kind']}/{r['resource']['name']}: "
            f"{r['message']}"
            for r in failing
        ),
        *(
            f"approved by {a['approverSubject']} ({a['team']}){'' if a['counts'] else ' - void'}"
            for a in change["approvals"]
        ),
    ]
    if change.get("commitSha"):
        lines.append(f"commit: {change['commitSha']}")
    if diff:
        lines.append(change["diff"].rstrip("\n"))
    return lines


def _print(change: Any, *, as_json: bool, details: bool = False, diff: bool = False) -> None:
    if as_json:
        typer.echo(json.dumps(change, indent=2, sort_keys=True))
    elif details:
        typer.echo("\n".join(render_change(change, diff=diff)))
    else:
        typer.echo(render_line(change))


def _http(method: str, url: str, headers: Mapping[str, str], body: Any) -> Any:
    import urllib.error  # with http.client and ssl: only when a server is asked
    import urllib.request

    data = None if body is None else json.dumps(body).encode("utf-8")
    all_headers = dict(headers) | ({"Content-Type": "application/json"} if data is not None else {})
    request = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise ServiceRefused(f"{url} refused ({exc.code}): {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ServiceUnreachable(f"could not reach {url}: {reason}") from exc
