"""One scheduled report made and delivered: e-mail through the configured SMTP server (the report as an
attachment in the schedule's format) and/or a POST of the report's JSON to the schedule's webhook.
The report is made as of the run's due time, so a retry sends the same figures. Called through
``insights.reportruns.run_due``; each target's failure is an answer, not an exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from leitplanke.alerts import Transport
from leitplanke.alerts.errors import SendError
from leitplanke.insights import costreports, kpis, mailing, reportmaking, reportrendering, scopes, views
from leitplanke.insights.reportschedules import Schedule
from leitplanke.store.databases import Database


@dataclass(frozen=True, slots=True)
class Delivery:
    """What every scheduled report shares: the SMTP server (None: not configured), the sender, the
    webhooks' transport, the KPI targets, the SLAs and where cost comes from (None: no cost section)."""

    smtp: mailing.Smtp | None
    mail_from: str
    transport: Transport
    kpis: Mapping[str, kpis.Kpi]
    sla_days: Mapping[str, int]
    cost: costreports.Source | None = None
    charts: bool = True
    webhook_timeout: float = 30.0


def deliver(
    database: Database, schedule: Schedule, *, due_at: datetime, targets: Sequence[str], delivery: Delivery
) -> dict[str, str]:
    """Target -> "" when delivered, else why not. Making the report may raise (the caller retries)."""
    asked = views.Asked(
        scope=scopes.parse_scope(schedule.scope),
        now=due_at,
        period=schedule.span,
        kpis=delivery.kpis,
        sla_days=delivery.sla_days,
    )
    made = reportmaking.make_report(database, asked, cost=delivery.cost)
    outcome: dict[str, str] = {}
    if "mail" in targets:
        outcome["mail"] = _mail(made.data, schedule, due_at=due_at, delivery=delivery)
    if "webhook" in targets:
        outcome["webhook"] = _post(made.data, schedule, due_at=due_at, delivery=delivery)
    return outcome


def _mail(data: dict[str, object], schedule: Schedule, *, due_at: datetime, delivery: Delivery) -> str:
    if delivery.smtp is None:
        return "no SMTP server configured (LEITPLANKE_SMTP)"
    body = reportmaking.render(data, schedule.format, charts=delivery.charts)
    message = mailing.build_message(
        sender=delivery.mail_from,
        recipients=schedule.mail_to,
        subject=f"leitplanke report: {schedule.scope}, {due_at.date().isoformat()} ({schedule.name})",
        text=(
            f"The leitplanke report of {schedule.scope} over {schedule.period} up to {due_at.isoformat()}"
            f" is attached ({schedule.format}); schedule {schedule.name}."
        ),
        attachment=body,
        fmt=schedule.format,
    )
    try:
        mailing.send_message(message, smtp=delivery.smtp)
    except mailing.MailError as exc:
        return str(exc)
    return ""


def _post(data: dict[str, object], schedule: Schedule, *, due_at: datetime, delivery: Delivery) -> str:
    headers = {
        "Content-Type": "application/json",
        **schedule.headers,
        # the same for every attempt of one run: a receiver can drop a repeat
        "Idempotency-Key": f"report:{schedule.name}:{due_at.isoformat()}",
    }
    try:
        status = delivery.transport.post(
            schedule.webhook,
            reportrendering.render_json(data),
            headers=headers,
            timeout=delivery.webhook_timeout,
        )
    except SendError as exc:
        return str(exc)
    return "" if 200 <= status < 300 else f"{schedule.webhook}: HTTP {status}"
