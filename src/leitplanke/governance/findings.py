"""The findings lifecycle: a scan of one (app, environment) ingested into remembered findings.

A failing result is keyed by a stable fingerprint and moves new → open (still failing on the next
scan) → fixed (a later scan of the same scope passes or no longer reports it) → reopened (fails
again) → open; a waived result makes it waived. Every status change is appended to the audit chain
in the same transaction. Called by the service's scan upload and by the demo seed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from leitplanke.core import waivers as core_waivers
from leitplanke.core.results import Result, Verdict
from leitplanke.governance import alerting, auditing, errors, slas, waivers
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import Finding, Scan

NEW, OPEN, FIXED, REOPENED, WAIVED = "new", "open", "fixed", "reopened", "waived"
STATUSES = (NEW, OPEN, FIXED, REOPENED, WAIVED)


def fingerprint(result: Result) -> str:
    """sha256 over policy, rule, resource apiVersion/kind/namespace/name and the field path."""
    resource = result.resource
    parts = (
        result.policy,
        result.rule,
        resource.api_version,
        resource.kind,
        resource.namespace,
        resource.name,
        result.location.path,
    )
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def next_status(current: str | None, *, observed: str | None) -> str:
    """The lifecycle as a table. ``observed`` is "fail", "waived" or None (passes or not reported)."""
    if observed == "waived":
        return WAIVED
    if observed == "fail":
        if current is None:
            return NEW
        return REOPENED if current == FIXED else OPEN
    return FIXED  # no longer reported: every status ends in fixed


@dataclass(slots=True)
class Ingested:
    scan_id: int
    app: str
    env: str
    transitions: dict[str, int] = field(default_factory=dict)  # "open->fixed": count
    findings: int = 0  # failing or waived results seen in this scan, by fingerprint

    def as_dict(self) -> dict[str, Any]:
        return {
            "scan": self.scan_id,
            "app": self.app,
            "env": self.env,
            "findings": self.findings,
            "transitions": dict(sorted(self.transitions.items())),
        }


def _observed(results: Sequence[Result]) -> dict[str, tuple[str, Result]]:
    """Per fingerprint what this scan says: "fail" wins over "waived" for duplicates."""
    seen: dict[str, tuple[str, Result]] = {}
    for result in results:
        if result.verdict is Verdict.FAIL:
            kind = "fail"
        elif result.verdict is Verdict.SKIP and result.waiver:
            kind = "waived"
        else:
            continue
        key = fingerprint(result)
        if key not in seen or (kind == "fail" and seen[key][0] != "fail"):
            seen[key] = (kind, result)
    return seen


def ingest_scan(
    database: Database,
    *,
    app: str,
    env: str,
    results: Sequence[Result],
    summary: Mapping[str, Any],
    generated_at: str,
    actor: str,
    now: datetime,
    sla_days: Mapping[str, int],
    outbox: alerting.Outbox | None = None,
) -> Ingested:
    """Record a scan of (app, env) and move its findings through the lifecycle, in one transaction.

    Waivers whose time has come expire first; a failure that an approved waiver of the service
    covers is then taken as waived, whether or not the scan itself applied that waiver.
    """
    observed = _observed(results)
    with database.transaction() as session:
        chain = auditing.Chain(session)
        waivers.expire_due(session, chain, now=now)
        app_row = repositories.app_by_name(session, app)
        if app_row is None:
            raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
        env_row = repositories.environment_by_name(session, env)
        if env_row is None:
            raise errors.NotFound(f"no environment {env!r} in the catalog", field="env")
        _honour(observed, waivers.active_in_scope(session, app_id=app_row.id, env_id=env_row.id, now=now))
        failing = sum(1 for kind, _ in observed.values() if kind == "fail")
        scan_id = repositories.add_scan(
            session,
            Scan(
                app_id=app_row.id,
                env_id=env_row.id,
                received_at=now,
                generated_at=generated_at,
                actor=actor,
                results=len(results),
                failing=failing,
                summary=dict(summary),
            ),
        )
        outcome = Ingested(scan_id=scan_id, app=app, env=env, findings=len(observed))
        existing = {
            f.fingerprint: f
            for f in repositories.findings_in_scope(session, app_id=app_row.id, env_id=env_row.id)
        }
        context = _Context(
            outcome=outcome, chain=chain, actor=actor, now=now, scan_id=scan_id, scope=f"{app}/{env}"
        )
        inserts = _new_findings(
            observed, existing, app_id=app_row.id, env_id=env_row.id, sla_days=sla_days, context=context
        )
        updates = _changed_findings(observed, existing, sla_days=sla_days, context=context)
        repositories.insert_findings(session, inserts)
        if outbox is not None:  # in this transaction: an alert exists exactly when its finding does
            alerting.queue_new_criticals(session, outbox, inserts, app=app, env=env, now=now)
        repositories.update_findings(session, updates)
        chain.append(
            actor=actor,
            action="scan.ingested",
            target=f"scan:{scan_id}",
            at=now,
            details=outcome.as_dict(),
            leaves=context.leaves,
        )
        chain.flush()
    return outcome


def _honour(observed: dict[str, tuple[str, Result]], active: Sequence[core_waivers.Waiver]) -> None:
    if not active:
        return
    for key, (kind, result) in observed.items():
        if kind != "fail":
            continue
        for waiver in active:
            if waiver.covers(policy=result.policy, rule=result.rule, resource=result.resource):
                observed[key] = ("waived", replace(result, verdict=Verdict.SKIP, waiver=waiver.name))
                break


@dataclass(slots=True)
class _Context:
    outcome: Ingested
    chain: auditing.Chain
    actor: str
    now: datetime
    scan_id: int
    scope: str
    # one per status change, under the Merkle root of the scan's single audit record
    leaves: list[dict[str, Any]] = field(default_factory=list)

    def audit(self, key: str, before: str | None, after: str, result: Result) -> None:
        name = f"{before or 'none'}->{after}"
        self.outcome.transitions[name] = self.outcome.transitions.get(name, 0) + 1
        self.leaves.append(
            {
                "fingerprint": key,
                "from": before,
                "to": after,
                "policy": result.policy,
                "rule": result.rule,
                "resource": result.resource.display,
                "path": result.location.path,
            }
        )


def _new_findings(
    observed: Mapping[str, tuple[str, Result]],
    existing: Mapping[str, Finding],
    *,
    app_id: int,
    env_id: int,
    sla_days: Mapping[str, int],
    context: _Context,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    now = context.now
    for key, (kind, result) in observed.items():
        if key in existing:
            continue
        status = next_status(None, observed=kind)
        severity = result.severity.label
        rows.append(
            {
                "app_id": app_id,
                "env_id": env_id,
                "fingerprint": key,
                "policy": result.policy,
                "rule": result.rule,
                "api_version": result.resource.api_version,
                "kind": result.resource.kind,
                "namespace": result.resource.namespace,
                "name": result.resource.name,
                "path": result.location.path,
                "severity": severity,
                "message": result.message,
                "status": status,
                "waiver": result.waiver,
                "first_seen": now,
                "last_seen": now,
                "fixed_at": None,
                "sla_due": slas.due_date(now, severity, sla_days),
                "last_scan_id": context.scan_id,
                "waived_since": now if status == WAIVED else None,
                "paused_seconds": 0,
            }
        )
        context.audit(key, None, status, result)
    return rows


def _changed_findings(
    observed: Mapping[str, tuple[str, Result]],
    existing: Mapping[str, Finding],
    *,
    sla_days: Mapping[str, int],
    context: _Context,
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    now = context.now
    for key, finding in existing.items():
        seen = observed.get(key)
        if seen is None:
            if finding.status == FIXED:
                continue
            changes.append(
                {"id": finding.id, "status": FIXED, "fixed_at": now, **_pause(finding, FIXED, now)}
            )
            context.audit(key, finding.status, FIXED, _as_result(finding))
            continue
        kind, result = seen
        status = next_status(finding.status, observed=kind)
        severity = result.severity.label
        pause = _pause(finding, status, now)
        change: dict[str, Any] = {
            "id": finding.id,
            "status": status,
            "last_seen": now,
            "last_scan_id": context.scan_id,
            "message": result.message,
            "severity": severity,
            "waiver": result.waiver,
            **pause,
            "sla_due": slas.due_date(
                finding.first_seen,
                severity,
                sla_days,
                paused_seconds=pause.get("paused_seconds", finding.paused_seconds),
            ),
        }
        if status == REOPENED:
            change["fixed_at"] = None
        changes.append(change)
        if status != finding.status:
            context.audit(key, finding.status, status, result)
    return changes


def _pause(finding: Finding, status: str, now: datetime) -> dict[str, Any]:
    """The SLA pause columns to change: a pause begins on entering waived and ends on leaving it."""
    if status == WAIVED and finding.waived_since is None:
        return {"waived_since": now}
    if status != WAIVED and finding.waived_since is not None:
        paused = finding.paused_seconds + slas.pause_seconds(finding.waived_since, now)
        return {"waived_since": None, "paused_seconds": paused}
    return {}


def _as_result(finding: Finding) -> Result:
    """Enough of a result to describe a finding that this scan no longer reports."""
    from leitplanke.core.policies import Severity
    from leitplanke.core.results import Location, Resource

    return Result(
        policy=finding.policy,
        rule=finding.rule,
        resource=Resource(finding.api_version, finding.kind, finding.namespace, finding.name),
        verdict=Verdict.PASS,
        severity=Severity.parse(finding.severity),
        message=finding.message,
        location=Location(file="", line=0, path=finding.path),
    )


@dataclass(frozen=True, slots=True)
class FindingView:
    id: int
    fingerprint: str
    app: str
    team: str
    env: str
    policy: str
    rule: str
    resource: dict[str, str]
    path: str
    severity: str
    message: str
    status: str
    waiver: str
    first_seen: datetime
    last_seen: datetime
    fixed_at: datetime | None
    sla_due: datetime | None
    overdue: bool


def list_findings(
    database: Database, where: repositories.FindingFilter, *, limit: int, offset: int, now: datetime
) -> tuple[int, list[FindingView]]:
    with database.reading() as session:
        total, rows = repositories.query_findings(session, where, limit=limit, offset=offset)
        return total, [_view(finding, app, team, env, now=now) for finding, app, team, env in rows]


def _view(finding: Finding, app: str, team: str, env: str, *, now: datetime) -> FindingView:
    is_open = finding.status in slas.OPEN_STATUSES
    return FindingView(
        id=finding.id,
        fingerprint=finding.fingerprint,
        app=app,
        team=team,
        env=env,
        policy=finding.policy,
        rule=finding.rule,
        resource={
            "apiVersion": finding.api_version,
            "kind": finding.kind,
            "namespace": finding.namespace,
            "name": finding.name,
        },
        path=finding.path,
        severity=finding.severity,
        message=finding.message,
        status=finding.status,
        waiver=finding.waiver,
        first_seen=finding.first_seen,
        last_seen=finding.last_seen,
        fixed_at=finding.fixed_at,
        sla_due=finding.sla_due,
        overdue=is_open and finding.sla_due is not None and finding.sla_due < now,
    )
