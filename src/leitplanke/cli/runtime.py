"""``leitplanke runtime leaks``: memory leaks and repeated OOM kills judged from Prometheus and, unless
``--dry-run``, ingested as runtime findings of the apps owning the namespaces (owner, SLA, audit)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from leitplanke.cli import servicecommands
from leitplanke.cli.db import DatabaseOpt
from leitplanke.core.problems import UsageError


def build() -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, help="Runtime insights from Prometheus.")
    app.command("leaks")(leaks_command)
    return app


def leaks_command(
    env: Annotated[str, typer.Option("--env", help="The apps' environment (prod, say).")],
    prometheus: Annotated[str | None, typer.Option("--prometheus", help="Prometheus URL.")] = None,
    window: Annotated[str, typer.Option("--window", help="How far back: 48h, 7d.")] = "48h",
    step: Annotated[int, typer.Option("--step", help="Seconds between samples.")] = 60,
    namespace_app: Annotated[
        list[str] | None, typer.Option("--namespace-app", help="NAMESPACE=APP (default: same names).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the findings, ingest nothing.")] = False,
    database: DatabaseOpt = None,
) -> None:
    """Judge every container's working set, print the failing results as JSON lines and ingest them."""
    from leitplanke import settings as settings_module
    from leitplanke.governance import errors
    from leitplanke.insights import containers, demoseries, leaks, prometheus as prom, runtimefindings, scopes

    settings = settings_module.load_settings()
    url = prometheus or settings.prometheus_url
    if not url:
        raise UsageError("--prometheus (or LEITPLANKE_PROMETHEUS_URL) is required")
    if not 10 <= step <= 3600:
        raise UsageError("--step is between 10 and 3600 seconds")
    try:
        span = scopes.parse_period(window)
    except errors.GovernanceError as exc:
        raise UsageError(f"--window: {exc}") from exc
    now = servicecommands.now()
    credentials = prom.Credentials(
        bearer_token=settings.prometheus_token,
        username=settings.prometheus_user,
        password=settings.prometheus_password,
    )
    if url == demoseries.URL:  # the demo's generated series
        series = containers.load_containers(
            demoseries.DemoSeries(), start=now - span, end=now, step_seconds=step
        )
    else:
        with prom.Prometheus(url, credentials=credentials) as client:
            series = containers.load_containers(client, start=now - span, end=now, step_seconds=step)
    results = leaks.runtime_results(leaks.judge_all(series))
    for result in results:
        shown = {"policy": result.policy, "resource": result.resource.display, "message": result.message}
        typer.echo(json.dumps(shown))
    if dry_run:
        return
    db = servicecommands.open_database(database)
    from leitplanke.store import repositories

    with db.reading() as session:
        apps = {app.name for app, _ in repositories.list_apps(session)}
    owners = {c.namespace: c.namespace for c in series if c.namespace in apps}
    for pair in namespace_app or []:
        namespace, sep, app = pair.partition("=")
        if not sep or app not in apps:
            raise UsageError(f"--namespace-app {pair!r}: NAMESPACE=APP with an app of the catalog")
        owners[namespace] = app
    try:
        done, unowned = runtimefindings.ingest_runtime(
            db, results=results, owners=owners, env=env, actor="cli", now=now, sla_days=settings.sla_days
        )
    except errors.GovernanceError as exc:
        raise UsageError(f"--{exc.field or 'env'}: {exc}") from exc
    for outcome in done:
        typer.echo(f"{outcome.app}/{outcome.env}: {outcome.findings} found, {outcome.transitions}", err=True)
    if unowned:
        typer.echo(f"namespaces no app owns (not ingested): {', '.join(unowned)}", err=True)
