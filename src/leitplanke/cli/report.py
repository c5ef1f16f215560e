"""``leitplanke report``: the business report (compliance, security, performance, cost, KPIs, cloud-native
comparison) of the organisation, a team or an app over a period, as JSON, Markdown, HTML or PDF; cost
and the cost-efficiency KPI from Prometheus when ``--prometheus`` (or LEITPLANKE_PROMETHEUS_URL) is set.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from leitplanke.cli import servicecommands
from leitplanke.cli.db import DatabaseOpt
from leitplanke.core.problems import UsageError

Format = Literal["json", "md", "html", "pdf"]
_MAX_POINTS = 1000  # samples per series asked of Prometheus: the step grows with the period
_TOP_SUGGESTIONS = 10


def report_command(
    period: Annotated[str, typer.Option("--period", help="How far back: 30d, 12w, 24h.")] = "30d",
    scope: Annotated[str, typer.Option("--scope", help="org, team:<name> or app:<name>.")] = "org",
    fmt: Annotated[str, typer.Option("--format", help="json, md, html or pdf.")] = "md",
    output: Annotated[str | None, typer.Option("--output", "-o", help="File (default: stdout).")] = None,
    kpi_file: Annotated[str | None, typer.Option("--kpis", help="KPI targets (YAML).")] = None,
    prometheus: Annotated[str | None, typer.Option("--prometheus", help="Prometheus URL for cost.")] = None,
    namespace_app: Annotated[
        list[str] | None, typer.Option("--namespace-app", help="NAMESPACE=APP (default: same names).")
    ] = None,
    namespace_env: Annotated[
        list[str] | None, typer.Option("--namespace-env", help="NAMESPACE=ENV: cost per environment.")
    ] = None,
    charts: Annotated[bool, typer.Option("--charts/--no-charts", help="Charts in HTML and PDF.")] = True,
    at: Annotated[str | None, typer.Option("--at", help="As of this ISO time (default: now).")] = None,
    mail_to: Annotated[
        list[str] | None, typer.Option("--mail-to", help="Send the report to this address (repeatable).")
    ] = None,
    smtp: Annotated[str, typer.Option("--smtp", help="SMTP server HOST:PORT.")] = "localhost:25",
    alert: Annotated[
        bool, typer.Option("--alert", help="Queue alerts for recurring violations and missed KPIs.")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Write the report of SCOPE over PERIOD."""
    from leitplanke import settings as settings_module
    from leitplanke.governance import errors
    from leitplanke.insights import deliverymeasures, kpis, reportdata, scopes, views

    if fmt not in ("json", "md", "html", "pdf"):
        raise UsageError(f"--format is json, md, html or pdf, not {fmt!r}")
    if fmt == "pdf" and output is None:
        raise UsageError("--format pdf needs --output FILE")
    settings = settings_module.load_settings()
    try:
        asked = views.Asked(
            scope=scopes.parse_scope(scope),
            now=_at(at),
            period=scopes.parse_period(period),
            kpis=_kpis(kpi_file or (str(settings.kpi_file) if settings.kpi_file else None), kpis),
            sla_days=settings.sla_days,
        )
        db = servicecommands.open_database(database)
        history, apps = views.load_scope(db, asked)
    except errors.GovernanceError as exc:
        raise UsageError(f"--{exc.field or 'scope'}: {exc}") from exc
    cost, external = None, None
    url = prometheus or settings.prometheus_url
    if url:
        pairs = namespace_app or []
        cost, external = _cost(url, settings, asked=asked, apps=apps, teams=history.teams, pairs=pairs)
        cost.update(_cost_groups(db, cost.pop("usages"), envs=namespace_env or []))
        asked = views.Asked(asked.scope, asked.now, asked.period, asked.kpis, asked.sla_days, external)
    asked = views.with_delivery(db, asked, history)
    dora = deliverymeasures.scope_figures(db, asked.scope, now=asked.now, period=asked.period)
    extras = reportdata.Extras(controls=_controls(asked), cost=cost, dora=dora)
    data = reportdata.build_report(history, apps, asked, extras)
    if alert:
        _queue_alerts(db, settings, history=history, apps=apps, asked=asked, card=data["kpis"])
    body = _render(data, fmt, charts=charts)
    if mail_to:
        _mail(body, fmt, to=mail_to, smtp=smtp, settings=settings, scope=asked.scope.label, at=asked.now)
        if output is None:
            return
    _write(body, output)


def _queue_alerts(db: Any, settings: Any, *, history: Any, apps: list[str], asked: Any, card: Any) -> None:
    """Trend alerts into the outbox of the configured targets; the service's dispatcher sends them."""
    from leitplanke.governance import alerting
    from leitplanke.insights import trendalerts, trends, views

    if not settings.alert_targets:
        raise UsageError("--alert needs alert targets (LEITPLANKE_ALERT_TARGETS or _FILE)")
    outbox = alerting.Outbox.of(settings.alert_targets, public_url=settings.public_url)
    found = trends.build_trends(views.only(history, apps), since=asked.now - asked.period)
    alerts = [
        *trendalerts.recurring_alerts(found, outbox=outbox, now=asked.now),
        *trendalerts.kpi_alerts(card, outbox=outbox, now=asked.now),
    ]
    queued = trendalerts.queue_alerts(db, outbox, alerts, now=asked.now)
    typer.echo(f"{queued} alert(s) queued for {len(settings.alert_targets)} target(s)", err=True)


def _mail(
    body: bytes, fmt: str, *, to: list[str], smtp: str, settings: Any, scope: str, at: datetime
) -> None:
    from leitplanke.insights import mailing

    host, sep, port = smtp.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise UsageError(f"--smtp {smtp!r}: HOST:PORT")
    message = mailing.build_message(
        sender=settings.mail_from,
        recipients=to,
        subject=f"leitplanke report: {scope}, {at.date().isoformat()}",
        text=f"The leitplanke report of {scope} up to {at.isoformat()} is attached ({fmt}).",
        attachment=body,
        fmt=fmt,
    )
    server = mailing.Smtp(
        host, int(port), settings.smtp_starttls, settings.smtp_username, settings.smtp_password
    )
    mailing.send_message(message, smtp=server)
    typer.echo(f"mailed to {', '.join(to)}", err=True)


def _at(text: str | None) -> datetime:
    if text is None:
        return servicecommands.now()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise UsageError(f"--at {text!r}: not an ISO time") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _kpis(path: str | None, kpis: Any) -> Any:
    if path is None:
        return kpis.default_kpis()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror or exc}") from exc
    parsed, problems = kpis.parse_targets(text, file=path)
    if problems:
        raise UsageError(f"{path}: {len(problems)} problem(s) in the KPI targets", problems=tuple(problems))
    return parsed


def _controls(asked: Any) -> dict[str, tuple[str, ...]]:
    """Every built-in policy's controls: the report's compliance maps findings onto them."""
    from leitplanke.engine import loading
    from leitplanke.insights import reportdata

    loaded = loading.load_packs(loading.available_packs(), now=asked.now)
    return reportdata.controls_of(loaded.policies)


def _cost(
    url: str, settings: Any, *, asked: Any, apps: list[str], teams: dict[str, str], pairs: list[str]
) -> tuple[dict[str, Any], dict[str, dict[str, tuple[float, float]]]]:
    from leitplanke.insights import costs, demoseries, prometheus

    credentials = prometheus.Credentials(
        bearer_token=settings.prometheus_token,
        username=settings.prometheus_user,
        password=settings.prometheus_password,
    )
    step = max(60.0, asked.period.total_seconds() / _MAX_POINTS)
    start = asked.now - asked.period
    if url == demoseries.URL:  # the demo's generated series, through the same analysis
        usages, cpu, memory = costs.load_usage(
            demoseries.DemoSeries(), start=start, end=asked.now, step_seconds=step
        )
    else:
        with prometheus.Prometheus(url, credentials=credentials) as client:
            usages, cpu, memory = costs.load_usage(client, start=start, end=asked.now, step_seconds=step)
    owners = {u.namespace: u.namespace for u in usages if u.namespace in teams}
    for pair in pairs:
        namespace, sep, app = pair.partition("=")
        if not sep or app not in teams:
            raise UsageError(f"--namespace-app {pair!r}: NAMESPACE=APP with an app of the catalog")
        owners[namespace] = app
    chosen = set(apps)
    mine = [u for u in usages if owners.get(u.namespace) in chosen]
    prices = costs.Prices()
    by_app = costs.costs_by(mine, group=owners, prices=prices, step_seconds=step)
    total = sum(by_app.values(), costs.ZERO)
    everyone = costs.costs_by(usages, group={}, prices=prices, step_seconds=step).get("", costs.ZERO)
    idle = costs.idle_cost(
        allocatable_cpu=cpu, allocatable_memory=memory, allocated=everyone, prices=prices, step_seconds=step
    )
    suggested = (costs.suggest(u, prices=prices) for u in mine)
    suggestions = [s for s in suggested if s is not None and s.saving_per_hour > 0]
    suggestions.sort(key=lambda s: (-s.saving_per_hour, s.namespace, s.pod, s.container))
    team_of = {namespace: teams[app] for namespace, app in owners.items()}
    by_team = costs.costs_by(mine, group=team_of, prices=prices, step_seconds=step)
    shaped = {
        "apps": {app: costs.cost_dict(cost) for app, cost in by_app.items()},
        "teams": {team: costs.cost_dict(cost) for team, cost in by_team.items()},
        "total": costs.cost_dict(total),
        "idle": round(idle, 4),
        "suggestions": [_suggestion(s) for s in suggestions[:_TOP_SUGGESTIONS]],
    }
    shaped["usages"] = (mine, owners, prices, step)  # popped by the caller: cost per env and value stream
    measures = costs.efficiency_measures(mine, owners=owners, prices=prices, step_seconds=step)
    return shaped, {"cost-efficiency": measures}


def _cost_groups(db: Any, measured: Any, *, envs: list[str]) -> dict[str, Any]:
    """The cost per environment (``--namespace-env``; others "unassigned") and per value stream."""
    from leitplanke.insights import costs
    from leitplanke.store import repositories

    usages, owners, prices, step = measured
    env_of: dict[str, str] = {}
    for pair in envs:
        namespace, sep, env = pair.partition("=")
        if not sep or not namespace or not env:
            raise UsageError(f"--namespace-env {pair!r}: NAMESPACE=ENV")
        env_of[namespace] = env
    with db.reading() as session:
        streams = {app.name: app.value_stream or "(none)" for app, _ in repositories.list_apps(session)}
    by_env = {u.namespace: env_of.get(u.namespace, "unassigned") for u in usages}
    by_stream = {namespace: streams.get(app, "(none)") for namespace, app in owners.items()}
    return {
        "environments": {
            env: costs.cost_dict(c)
            for env, c in sorted(
                costs.costs_by(usages, group=by_env, prices=prices, step_seconds=step).items()
            )
        },
        "valueStreams": {
            name: costs.cost_dict(c)
            for name, c in sorted(
                costs.costs_by(usages, group=by_stream, prices=prices, step_seconds=step).items()
            )
        },
    }


def _suggestion(s: Any) -> dict[str, Any]:
    mib = 1024 * 1024
    return {
        "pod": s.pod,
        "container": s.container,
        "cpu": f"{s.cpu_request:.3f} → {s.cpu_recommended:.3f}",
        "memoryMiB": f"{s.memory_request / mib:.0f} → {s.memory_recommended / mib:.0f}",
        "savingPer30Days": round(s.saving_per_30_days, 2),
    }


def _render(data: dict[str, Any], fmt: str, *, charts: bool) -> bytes:
    from leitplanke.insights import reportrendering

    if fmt == "json":
        return reportrendering.render_json(data)
    if fmt == "md":
        return reportrendering.render_markdown(data).encode("utf-8")
    pictures = None
    if charts:
        from leitplanke.insights import charts as charting

        pictures = charting.render_charts(data)
    html = reportrendering.render_html(data, charts=pictures)
    if fmt == "html":
        return html.encode("utf-8")
    from leitplanke.insights import pdfs

    return pdfs.render_pdf(html)


def _write(body: bytes, output: str | None) -> None:
    if output is None:
        sys.stdout.buffer.write(body)
        sys.stdout.flush()
        return
    try:
        Path(output).write_bytes(body)
    except OSError as exc:
        raise UsageError(f"{output}: {exc.strerror or exc}") from exc
    typer.echo(f"wrote {output} ({len(body)} bytes)", err=True)
