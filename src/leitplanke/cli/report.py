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


def build() -> typer.Typer:
    """``report`` writes a report; ``report schedules`` lists the service's schedules."""
    app = typer.Typer()
    app.callback(invoke_without_command=True)(report_command)
    app.command("schedules")(schedules_command)
    return app


def report_command(
    ctx: typer.Context,
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
    smtp: Annotated[
        str | None, typer.Option("--smtp", help="SMTP HOST:PORT (default: LEITPLANKE_SMTP, localhost:25).")
    ] = None,
    alert: Annotated[
        bool, typer.Option("--alert", help="Queue alerts for recurring violations and missed KPIs.")
    ] = False,
    database: DatabaseOpt = None,
) -> None:
    """Write the report of SCOPE over PERIOD."""
    if ctx.invoked_subcommand is not None:
        return
    from leitplanke import settings as settings_module
    from leitplanke.governance import errors
    from leitplanke.insights import costreports, kpis, prometheus as prom, reportmaking, scopes, views

    if fmt not in ("json", "md", "html", "pdf"):
        raise UsageError(f"--format is json, md, html or pdf, not {fmt!r}")
    if fmt == "pdf" and output is None:
        raise UsageError("--format pdf needs --output FILE")
    settings = settings_module.load_settings()
    url = prometheus or settings.prometheus_url
    source = None
    if url:
        credentials = prom.Credentials(
            bearer_token=settings.prometheus_token,
            username=settings.prometheus_user,
            password=settings.prometheus_password,
        )
        source = costreports.Source(url, credentials, tuple(namespace_app or ()), tuple(namespace_env or ()))
    try:
        asked = views.Asked(
            scope=scopes.parse_scope(scope),
            now=_at(at),
            period=scopes.parse_period(period),
            kpis=_kpis(kpi_file or (str(settings.kpi_file) if settings.kpi_file else None), kpis),
            sla_days=settings.sla_days,
        )
        db = servicecommands.open_database(database)
        made = reportmaking.make_report(db, asked, cost=source)
    except errors.GovernanceError as exc:
        raise UsageError(f"--{exc.field or 'scope'}: {exc}") from exc
    data, asked = made.data, made.asked
    if alert:
        _queue_alerts(db, settings, history=made.history, apps=made.apps, asked=asked, card=data["kpis"])
    body = reportmaking.render(data, fmt, charts=charts)
    if mail_to:
        server = smtp or settings.smtp_server or "localhost:25"
        _mail(body, fmt, to=mail_to, smtp=server, settings=settings, scope=asked.scope.label, at=asked.now)
        if output is None:
            return
    _write(body, output)


def schedules_command(
    at: Annotated[str | None, typer.Option("--at", help="Next runs after this ISO time.")] = None,
    database: DatabaseOpt = None,
) -> None:
    """List the report schedules of the service's settings with their next run and last recorded run."""
    from leitplanke import settings as settings_module
    from leitplanke.insights import reportruns

    settings = settings_module.load_settings()
    if not settings.report_schedules:
        typer.echo("no report schedules (LEITPLANKE_REPORT_SCHEDULES or LEITPLANKE_REPORT_SCHEDULES_FILE)")
        return
    latest: dict[str, Any] = {}
    for run in reportruns.runs(servicecommands.open_database(database)):
        latest.setdefault(run.schedule, run)
    now = _at(at)
    typer.echo("NAME\tCRON\tTIME ZONE\tSCOPE\tPERIOD\tFORMAT\tTARGETS\tNEXT RUN (UTC)\tLAST RUN")
    for schedule in settings.report_schedules:
        last = latest.get(schedule.name)
        shown = f"{last.due_at.isoformat()} {last.status}" if last is not None else "-"
        targets = ", ".join([*schedule.mail_to, *([schedule.webhook] if schedule.webhook else [])])
        fields = (schedule.name, schedule.cron, schedule.time_zone, schedule.scope, schedule.period)
        typer.echo("\t".join((*fields, schedule.format, targets, schedule.next_at(now).isoformat(), shown)))


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
