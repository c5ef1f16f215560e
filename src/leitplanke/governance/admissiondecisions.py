"""Admission decisions shipped by the webhooks, recorded once each: the findings of the owning
(app, env) and one audit record per decision, in one transaction per batch.

A decision is keyed by its AdmissionReview request uid: a batch delivered again (the webhook retries
until the service acknowledged it) records nothing twice. Its failing results move findings through
the same lifecycle as a scan (``findingstates.next_status``), each under a scan row of source admission; a
waiver the webhook applied counts only when it is an approved, unexpired waiver of the scope
(``observations.resolve``), and its name goes into the audit record. Called by ``service.decisions``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, Verdict
from leitplanke.core.waivers import Waiver
from leitplanke.governance import auditing, findingstates, observations, slas, waiverexpiring
from leitplanke.store import admissiondecisions, repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import Finding, Scan

ACTION = "admission.decided"


@dataclass(frozen=True, slots=True)
class DecisionResult:
    policy: str
    rule: str
    verdict: str  # fail | warn | error | skip (skip: waived, ``waiver`` names the waiver)
    severity: str
    message: str
    path: str = ""
    waiver: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """One answered AdmissionReview as the webhook saw it."""

    uid: str
    decided_at: datetime
    app: str
    env: str
    mode: str
    outcome: str  # allow | warn | deny
    operation: str
    user: str
    resource: Resource
    results: tuple[DecisionResult, ...] = ()

    def as_results(self) -> list[Result]:
        return [
            Result(
                policy=item.policy,
                rule=item.rule,
                resource=self.resource,
                verdict=Verdict(item.verdict),
                severity=Severity.parse(item.severity),
                message=item.message,
                location=Location(file="", line=0, path=item.path),
                waiver=item.waiver,
            )
            for item in self.results
        ]


@dataclass(slots=True)
class Recorded:
    recorded: list[str] = field(default_factory=list)  # uids recorded by this call
    duplicates: list[str] = field(default_factory=list)  # recorded before: nothing written
    unowned: list[str] = field(default_factory=list)  # audited, but no (app, env) of the catalog
    findings: int = 0  # findings created or changed

    def as_dict(self) -> dict[str, Any]:
        return {
            "recorded": self.recorded,
            "duplicates": self.duplicates,
            "unowned": self.unowned,
            "findings": self.findings,
        }


@dataclass(slots=True)
class _Scope:
    app_id: int
    env_id: int
    active: list[Waiver]
    scan: Scan


def record_decisions(
    database: Database,
    *,
    decisions: Sequence[Decision],
    actor: str,
    now: datetime,
    sla_days: Mapping[str, int],
) -> Recorded:
    """Record the decisions not recorded yet, in one transaction with their audit records."""
    outcome = Recorded()
    with database.transaction() as session:
        chain = auditing.Chain(session)
        waiverexpiring.expire_due(session, chain, now=now)
        known = admissiondecisions.known_uids(session, {d.uid for d in decisions})
        scopes: dict[tuple[str, str], _Scope | None] = {}
        rows: list[dict[str, Any]] = []
        for decision in decisions:
            if decision.uid in known:
                outcome.duplicates.append(decision.uid)
                continue
            known.add(decision.uid)
            key = (decision.app, decision.env)
            if key not in scopes:
                scopes[key] = _open_scope(session, app=decision.app, env=decision.env, actor=actor, now=now)
            scope = scopes[key]
            transitions: list[dict[str, Any]] = []
            honoured: list[str] = []
            if scope is None:
                outcome.unowned.append(decision.uid)
            else:
                transitions, honoured = _observe(session, scope, decision, now=now, sla_days=sla_days)
                outcome.findings += len(transitions)
            seq = chain.append(
                actor=actor,
                action=ACTION,
                target=f"admission:{decision.uid}",
                at=now,
                details=_details(decision, honoured=honoured, transitions=transitions),
            )
            rows.append(
                {
                    "uid": decision.uid,
                    "decided_at": decision.decided_at,
                    "received_at": now,
                    "app": decision.app if scope is not None else "",
                    "env": decision.env if scope is not None else "",
                    "outcome": decision.outcome,
                    "audit_seq": seq,
                }
            )
            outcome.recorded.append(decision.uid)
        admissiondecisions.add_decisions(session, rows)
        chain.flush()
    return outcome


def _open_scope(session: Session, *, app: str, env: str, actor: str, now: datetime) -> _Scope | None:
    """The (app, env) of the catalog with its active waivers and a scan row of source admission."""
    app_row = repositories.app_by_name(session, app) if app else None
    env_row = repositories.environment_by_name(session, env) if env else None
    if app_row is None or env_row is None:
        return None
    scan = Scan(
        app_id=app_row.id,
        env_id=env_row.id,
        received_at=now,
        generated_at="",
        actor=actor,
        results=0,
        failing=0,
        summary={"source": "admission"},
        source=findingstates.ADMISSION,
    )
    repositories.add_scan(session, scan)
    active = waiverexpiring.active_in_scope(session, app_id=app_row.id, env_id=env_row.id, now=now)
    return _Scope(app_id=app_row.id, env_id=env_row.id, active=active, scan=scan)


def _observe(
    session: Session, scope: _Scope, decision: Decision, *, now: datetime, sla_days: Mapping[str, int]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Move the decision's findings through the lifecycle; the transitions and the waivers honoured."""
    observed = observations.collect(decision.as_results())
    observations.resolve(observed, scope.active)
    scope.scan.results += observed.results
    scope.scan.failing += observed.failing()
    stored = admissiondecisions.findings_by_fingerprint(
        session, app_id=scope.app_id, env_id=scope.env_id, fingerprints=observed.findings.keys()
    )
    transitions: list[dict[str, Any]] = []
    for key, item in observed.findings.items():
        seen = "waived" if item.waiver else "fail"
        row = stored.get(key)
        before = None if row is None else row.status
        status = findingstates.next_status(before, observed=seen)
        if row is None:
            row = _new_finding(scope, key, item, status=status, now=now, sla_days=sla_days)
            session.add(row)
        else:
            _pause(row, status, now=now, sla_days=sla_days)
        row.status, row.waiver, row.message = status, item.waiver, item.message
        row.last_seen, row.last_scan_id, row.fixed_at = now, scope.scan.id, None
        row.source, row.category = findingstates.ADMISSION, item.category
        if status != before:
            transitions.append(
                {"fingerprint": key, "from": before, "to": status, "policy": item.policy, "rule": item.rule}
            )
    session.flush()
    honoured = sorted({item.waiver for item in observed.findings.values() if item.waiver})
    return transitions, honoured


def _new_finding(
    scope: _Scope,
    key: str,
    item: observations.Observation,
    *,
    status: str,
    now: datetime,
    sla_days: Mapping[str, int],
) -> Finding:
    resource = item.resource
    return Finding(
        app_id=scope.app_id,
        env_id=scope.env_id,
        fingerprint=key,
        policy=item.policy,
        rule=item.rule,
        api_version=resource.api_version,
        kind=resource.kind,
        namespace=resource.namespace,
        name=resource.name,
        path=item.path,
        severity=item.severity,
        message=item.message,
        status=status,
        waiver=item.waiver,
        first_seen=now,
        last_seen=now,
        fixed_at=None,
        sla_due=slas.due_date(now, item.severity, sla_days),
        last_scan_id=scope.scan.id,
        waived_since=now if status == findingstates.WAIVED else None,
        paused_seconds=0,
        source=findingstates.ADMISSION,
        category=item.category,
    )


def _pause(row: Finding, status: str, *, now: datetime, sla_days: Mapping[str, int]) -> None:
    """The SLA clock pauses while waived, as in a scan's ingestion: the pause ended moves the due date."""
    if status == findingstates.WAIVED and row.waived_since is None:
        row.waived_since = now
    elif status != findingstates.WAIVED and row.waived_since is not None:
        row.paused_seconds += slas.pause_seconds(row.waived_since, now)
        row.waived_since = None
        row.sla_due = slas.due_date(row.first_seen, row.severity, sla_days, paused_seconds=row.paused_seconds)


def _details(
    decision: Decision, *, honoured: Sequence[str], transitions: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    resource = decision.resource
    return {
        "uid": decision.uid,
        "decidedAt": auditing.format_time(decision.decided_at),
        "app": decision.app,
        "env": decision.env,
        "mode": decision.mode,
        "outcome": decision.outcome,
        "operation": decision.operation,
        "user": decision.user,
        "resource": {
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "namespace": resource.namespace,
            "name": resource.name,
        },
        "results": [
            {"policy": r.policy, "rule": r.rule, "verdict": r.verdict, "path": r.path, "waiver": r.waiver}
            for r in decision.results
        ],
        "waivers": list(honoured),
        "transitions": list(transitions),
    }
