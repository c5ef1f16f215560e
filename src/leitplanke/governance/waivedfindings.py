"""What a waiver does to the findings of its scope: on approval the failing ones it covers become
waived by it; on expiry the ones it waived pass to another active waiver that covers them or reopen,
their due date moved by the time they spent waived. Each status change is audited.

Called inside the caller's transaction by ``waivers`` (approval) and ``waiverexpiring`` (expiry).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leitplanke.core import waivers as core_waivers
from leitplanke.core.results import Resource
from leitplanke.governance import auditing, slas
from leitplanke.store import repositories
from leitplanke.store.rows import Finding

WAIVED, REOPENED = "waived", "reopened"


def cover(
    session: Session,
    chain: auditing.Chain,
    waiver: core_waivers.Waiver,
    *,
    app_id: int,
    env_id: int,
    scope: tuple[str, str],
    actor: str,
    now: datetime,
) -> None:
    """Findings ``waiver`` covers that are failing (or waived by another waiver) become waived by it."""
    changes: list[dict[str, Any]] = []
    for finding in repositories.findings_in_scope(session, app_id=app_id, env_id=env_id):
        if finding.status not in (*repositories.OPEN_STATUSES, WAIVED) or not covers(waiver, finding):
            continue
        changes.append(
            {
                "id": finding.id,
                "status": WAIVED,
                "waiver": waiver.name,
                "waived_since": finding.waived_since or now,
            }
        )
        if finding.status != WAIVED:
            _audit(chain, finding, scope=scope, after=WAIVED, waiver=waiver.name, actor=actor, now=now)
    repositories.update_findings(session, changes)
    session.expire_all()


def uncover(
    session: Session,
    chain: auditing.Chain,
    name: str,
    *,
    others: Sequence[core_waivers.Waiver],
    app_id: int,
    env_id: int,
    scope: tuple[str, str],
    actor: str,
    now: datetime,
) -> None:
    """Findings waived by the waiver ``name`` that ends: kept waived by the first of ``others`` that
    covers them, else reopened, their due date moved by the time they spent waived."""
    changes: list[dict[str, Any]] = []
    for finding in repositories.findings_in_scope(session, app_id=app_id, env_id=env_id):
        if finding.status != WAIVED or finding.waiver != name:
            continue
        other = next((w for w in others if covers(w, finding)), None)
        if other is not None:
            changes.append({"id": finding.id, "waiver": other.name})
            continue
        paused = slas.pause_seconds(finding.waived_since, now) if finding.waived_since else 0
        changes.append(
            {
                "id": finding.id,
                "status": REOPENED,
                "waiver": "",
                "waived_since": None,
                "paused_seconds": finding.paused_seconds + paused,
                "sla_due": None if finding.sla_due is None else finding.sla_due + timedelta(seconds=paused),
            }
        )
        _audit(chain, finding, scope=scope, after=REOPENED, waiver=name, actor=actor, now=now)
    repositories.update_findings(session, changes)
    session.expire_all()  # a bulk update by key leaves loaded findings stale for the ingestion that follows


def covers(waiver: core_waivers.Waiver, finding: Finding) -> bool:
    resource = Resource(finding.api_version, finding.kind, finding.namespace, finding.name)
    return waiver.covers(policy=finding.policy, rule=finding.rule, resource=resource)


def _audit(
    chain: auditing.Chain,
    finding: Finding,
    *,
    scope: tuple[str, str],
    after: str,
    waiver: str,
    actor: str,
    now: datetime,
) -> None:
    chain.append(
        actor=actor,
        action="finding.status",
        target=f"finding:{scope[0]}/{scope[1]}/{finding.fingerprint}",
        at=now,
        details={
            "from": finding.status,
            "to": after,
            "waiver": waiver,
            "policy": finding.policy,
            "rule": finding.rule,
            "resource": f"{finding.kind}/{finding.namespace}/{finding.name}"
            if finding.namespace
            else f"{finding.kind}/{finding.name}",
            "path": finding.path,
        },
    )
