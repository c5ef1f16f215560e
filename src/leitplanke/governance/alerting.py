"""Deciding alerts: a new critical finding, a new finding of an alerting category (drift, unless
configured otherwise), an SLA breach, a waiver awaiting approval, a waiver about
to expire. Each becomes an ``alerts.Alert`` with a stable idempotency key, queued in the outbox once
per target inside the caller's transaction, so an alert exists exactly when its cause was committed.

``queue_new_criticals`` runs inside the scan ingestion (``findings.ingest_scan``); ``queue_waiver_request``
is the hook for the waiver workflow's request transaction; ``sweep`` (called periodically by the
service's dispatcher) finds breaches and expiring waivers, and requests that were not queued yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from sqlalchemy.orm import Session

from leitplanke.alerts import Alert, Target
from leitplanke.alerts.messages import format_time
from leitplanke.store import alertoutbox, repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import Finding, Waiver

NEW_CRITICAL = "LeitplankeNewCriticalFinding"
NEW_IN_CATEGORY = "LeitplankeNewFinding"  # of a category that alerts whatever its severity (drift)
DEFAULT_CATEGORIES = ("drift",)
SLA_BREACH = "LeitplankeSlaBreach"
WAIVER_REQUESTED = "LeitplankeWaiverAwaitingApproval"
WAIVER_EXPIRING = "LeitplankeWaiverExpiring"
_PAGE = 1000


@dataclass(frozen=True, slots=True)
class Outbox:
    """Where queued alerts go: the names of the configured targets, and the service's public URL for links."""

    targets: tuple[str, ...]
    public_url: str
    # categories whose new findings alert whatever their severity (``LEITPLANKE_ALERT_CATEGORIES``)
    categories: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, targets: Iterable[Target], *, public_url: str, categories: Iterable[str] = DEFAULT_CATEGORIES
    ) -> Outbox:
        return cls(
            targets=tuple(target.name for target in targets),
            public_url=public_url.rstrip("/"),
            categories=tuple(categories),
        )

    def link(self, path: str, **query: str) -> str:
        """A link into the API under the service's own public URL: values (uploaded app and env names)
        go only into the percent-encoded path and query, so none can change where the link points."""
        return f"{self.public_url}/api/v1/{quote(path)}" + (f"?{urlencode(query)}" if query else "")


def queue(session: Session, outbox: Outbox, alerts: Sequence[Alert], *, now: datetime) -> int:
    """Queue every alert for every target (once per key and target, whatever the callers repeat)."""
    rows = [
        {"key": alert.key, "target": target, "alert": alert.as_dict()}
        for alert in alerts
        for target in outbox.targets
    ]
    return alertoutbox.queue(session, rows, now=now) if rows else 0


# --- new critical findings -------------------------------------------------------------------------


def new_critical_alerts(
    findings: Sequence[Mapping[str, Any]], *, app: str, env: str, team: str, outbox: Outbox, now: datetime
) -> list[Alert]:
    """An alert for every critical finding first seen now (the rows the ingestion inserts), and for every
    other one of a category of ``outbox.categories``."""
    alerts = []
    for row in findings:
        if row["status"] != "new":
            continue
        resource = (
            f"{row['kind']}/{row['namespace']}/{row['name']}"
            if row["namespace"]
            else f"{row['kind']}/{row['name']}"
        )
        if row["severity"] != "critical":
            if row.get("category") in outbox.categories:
                alerts.append(
                    _new_in_category(
                        row, app=app, env=env, team=team, resource=resource, outbox=outbox, now=now
                    )
                )
            continue
        alerts.append(
            Alert(
                key=f"new-critical:{app}/{env}/{row['fingerprint']}",
                name=NEW_CRITICAL,
                severity="critical",
                summary=f"new critical finding in {app} ({env}): {row['policy']}/{row['rule']} on {resource}",
                starts_at=now,
                labels=_finding_labels(app=app, env=env, team=team, policy=row["policy"], rule=row["rule"])
                | {"resource": resource},
                annotations={"description": str(row["message"]), "path": str(row["path"])},
                generator_url=outbox.link("findings", app=app, env=env, severity="critical", status="new"),
            )
        )
    return alerts


def _new_in_category(
    row: Mapping[str, Any], *, app: str, env: str, team: str, resource: str, outbox: Outbox, now: datetime
) -> Alert:
    category = str(row["category"])
    return Alert(
        key=f"new-finding:{app}/{env}/{row['fingerprint']}",
        name=NEW_IN_CATEGORY,
        severity=str(row["severity"]),
        summary=f"new {category} finding in {app} ({env}): {row['policy']}/{row['rule']} on {resource}",
        starts_at=now,
        labels=_finding_labels(app=app, env=env, team=team, policy=row["policy"], rule=row["rule"])
        | {"resource": resource, "category": category},
        annotations={"description": str(row["message"]), "path": str(row["path"])},
        generator_url=outbox.link("findings", app=app, env=env, policy=str(row["policy"]), status="new"),
    )


def queue_new_criticals(
    session: Session,
    outbox: Outbox,
    findings: Sequence[Mapping[str, Any]],
    *,
    app: str,
    env: str,
    now: datetime,
) -> int:
    if not outbox.targets:
        return 0
    team = repositories.app_owner(session, app) or ""
    return queue(
        session,
        outbox,
        new_critical_alerts(findings, app=app, env=env, team=team, outbox=outbox, now=now),
        now=now,
    )


def _finding_labels(*, app: str, env: str, team: str, policy: str, rule: str) -> dict[str, str]:
    return {"app": app, "env": env, "team": team, "policy": policy, "rule": rule}


# --- SLA breaches --------------------------------------------------------------------------------


def sla_breach_alert(finding: Finding, *, app: str, team: str, env: str, outbox: Outbox) -> Alert:
    assert finding.sla_due is not None
    resource = "/".join(part for part in (finding.kind, finding.namespace, finding.name) if part)
    return Alert(
        # a due date moved by a waiver's pause is a new breach when it passes again
        key=f"sla-breach:{finding.id}:{format_time(finding.sla_due)}",
        name=SLA_BREACH,
        severity=finding.severity,
        summary=(
            f"SLA breached in {app} ({env}): {finding.severity} finding {finding.policy}/{finding.rule} "
            f"on {resource} was due {format_time(finding.sla_due)[:10]}"
        ),
        starts_at=finding.sla_due,
        labels=_finding_labels(app=app, env=env, team=team, policy=finding.policy, rule=finding.rule)
        | {"resource": resource},
        annotations={"description": finding.message, "slaDue": format_time(finding.sla_due)},
        generator_url=outbox.link("findings", app=app, env=env, overdue="true"),
    )


def _sla_breaches(session: Session, outbox: Outbox, *, now: datetime) -> list[Alert]:
    where = repositories.FindingFilter(overdue_at=now)
    alerts: list[Alert] = []
    offset = 0
    while True:
        _, rows = repositories.query_findings(session, where, limit=_PAGE, offset=offset)
        alerts += [
            sla_breach_alert(f, app=app, team=team, env=env, outbox=outbox) for f, app, team, env in rows
        ]
        if len(rows) < _PAGE:
            return alerts
        offset += _PAGE


# --- waivers -------------------------------------------------------------------------------------


def waiver_request_alert(waiver: Waiver, *, app: str, env: str, team: str, outbox: Outbox) -> Alert:
    return Alert(
        key=f"waiver-requested:{waiver.id}",
        name=WAIVER_REQUESTED,
        severity="info",
        summary=(
            f"waiver {waiver.id} for {app} ({env}) awaits approval: {', '.join(waiver.policies)}, "
            f"requested by {waiver.requester} until {format_time(waiver.expires)[:10]}"
        ),
        starts_at=waiver.requested_at,
        labels={"app": app, "env": env, "team": team, "waiver": str(waiver.id)},
        annotations={"description": waiver.justification, "requester": waiver.requester},
        generator_url=outbox.link(f"waivers/{waiver.id}"),
    )


def queue_waiver_request(
    session: Session, outbox: Outbox, waiver: Waiver, *, app: str, env: str, team: str, now: datetime
) -> int:
    """The hook for the waiver workflow: call it in the transaction that records the request."""
    return queue(
        session, outbox, [waiver_request_alert(waiver, app=app, env=env, team=team, outbox=outbox)], now=now
    )


def waiver_expiring_alert(waiver: Waiver, *, app: str, env: str, team: str, outbox: Outbox) -> Alert:
    return Alert(
        key=f"waiver-expiring:{waiver.id}:{format_time(waiver.expires)}",
        name=WAIVER_EXPIRING,
        severity="warning",
        summary=(
            f"waiver {waiver.id} for {app} ({env}) expires {format_time(waiver.expires)[:16]}Z: "
            f"its findings reopen unless it is renewed"
        ),
        starts_at=waiver.expires,
        labels={"app": app, "env": env, "team": team, "waiver": str(waiver.id)},
        annotations={"description": waiver.justification, "expires": format_time(waiver.expires)},
        generator_url=outbox.link(f"waivers/{waiver.id}"),
    )


def _waiver_alerts(session: Session, outbox: Outbox, *, now: datetime, expiry_days: int) -> list[Alert]:
    horizon = now + timedelta(days=expiry_days)
    alerts = []
    for waiver, app, env, team in repositories.query_waivers(
        session, repositories.WaiverFilter(status="requested")
    ):
        alerts.append(waiver_request_alert(waiver, app=app, env=env, team=team, outbox=outbox))
    for waiver, app, env, team in repositories.query_waivers(
        session, repositories.WaiverFilter(status="approved")
    ):
        if now < waiver.expires <= horizon:
            alerts.append(waiver_expiring_alert(waiver, app=app, env=env, team=team, outbox=outbox))
    return alerts


# --- the periodic sweep --------------------------------------------------------------------------


def sweep(database: Database, outbox: Outbox, *, now: datetime, expiry_days: int) -> int:
    """Queue the alerts that time raises (breaches, expiring waivers) and any waiver request not queued
    yet; repeats queue nothing twice. Returns how many (alert, target) rows were queued."""
    if not outbox.targets:
        return 0
    with database.transaction() as session:
        alerts = _sla_breaches(session, outbox, now=now)
        alerts += _waiver_alerts(session, outbox, now=now, expiry_days=expiry_days)
        return queue(session, outbox, alerts, now=now)
