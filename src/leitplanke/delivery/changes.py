"""Change requests: the states as one transition table, the views, and the use cases of one step each.

draft → submitted → approved / rejected → applied → deployed / failed, plus expired and cancelled.
``proposing`` creates and edits changes, ``approvals`` approves them, ``gitops`` applies them;
``deployments.record_deployment`` moves them on by commit (``follow_deployment``). Every step is audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from leitplanke.catalog import changecontrols
from leitplanke.governance import auditing, errors
from leitplanke.store import changerecords
from leitplanke.store.changerows import ChangeApproval, ChangeRequest
from leitplanke.store.databases import Database
from leitplanke.store.rows import Environment

DRAFT, SUBMITTED, APPROVED, REJECTED = "draft", "submitted", "approved", "rejected"
APPLIED, DEPLOYED, FAILED, EXPIRED, CANCELLED = "applied", "deployed", "failed", "expired", "cancelled"
SYSTEM = "system"  # the actor of what leitplanke does by itself
STATUSES = (DRAFT, SUBMITTED, APPROVED, REJECTED, APPLIED, DEPLOYED, FAILED, EXPIRED, CANCELLED)

# The lifecycle as one table: (status, event) → the next status; a pair not in it is refused.
# "approve" is an approval that completes the rules; "approval" one that does not yet.
TRANSITIONS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        (DRAFT, "edit"): DRAFT,
        (DRAFT, "submit"): SUBMITTED,
        (DRAFT, "cancel"): CANCELLED,
        (SUBMITTED, "edit"): SUBMITTED,
        (SUBMITTED, "approval"): SUBMITTED,
        (SUBMITTED, "approve"): APPROVED,
        (SUBMITTED, "reject"): REJECTED,
        (SUBMITTED, "cancel"): CANCELLED,
        (APPROVED, "edit"): SUBMITTED,  # a new diff: the approvals were for the old one
        (APPROVED, "reject"): REJECTED,
        (APPROVED, "apply"): APPLIED,
        (APPROVED, "expire"): EXPIRED,  # its approvals expired before it was applied
        (APPROVED, "cancel"): CANCELLED,
        (APPLIED, "deploy"): DEPLOYED,
        (APPLIED, "fail"): FAILED,
        (FAILED, "deploy"): DEPLOYED,  # a failed sync retried: the same commit went live after all
    }
)


def next_status(current: str, *, event: str) -> str:
    """Where ``event`` takes a change in ``current``; Conflict when the table has no such step."""
    found = TRANSITIONS.get((current, event))
    if found is None:
        raise errors.Conflict(f"a change that is {current} cannot {event}", field="status")
    return found


@dataclass(frozen=True, slots=True)
class ApprovalView:
    approver: str
    approver_subject: str
    team: str
    diff_hash: str
    approved_at: datetime
    expires_at: datetime
    counts: bool  # for the change's current diff and not expired (at the time of the view)


@dataclass(frozen=True, slots=True)
class ChangeView:
    id: int
    app: str
    env: str
    team: str
    title: str
    status: str
    author: str
    author_subject: str
    manifests: str
    diff: str
    diff_hash: str
    approved_hash: str | None
    preflight: dict[str, Any]
    preflight_blocking: bool
    waiver: int | None
    reverts: int | None
    approvals: list[ApprovalView]
    created_at: datetime
    updated_at: datetime
    decided_by: str
    decision_note: str
    applied_by: str
    applied_at: datetime | None
    commit_sha: str | None
    window_override: str
    finished_at: datetime | None
    source: dict[str, Any] | None = None  # template, values, namespace, valueStream (``proposing.Proposal``)


def change_id_of(change_id: int) -> str:
    """How a change is named in Git commit messages (found again by ``git log --grep``)."""
    return f"leitplanke-change-{change_id}"


def view_of(
    session: Session,
    found: changerecords.Found,
    *,
    now: datetime,
    approved: Sequence[ChangeApproval] | None = None,
) -> ChangeView:
    """The change as callers see it; ``approved``: its approvals when the caller read them already."""
    row, app, env, team = found
    rows = changerecords.approvals_of(session, row.id) if approved is None else approved
    approvals = [_approval_view(a, row, now=now) for a in rows]
    return ChangeView(
        id=row.id,
        app=app,
        env=env,
        team=team,
        title=row.title,
        status=row.status,
        author=row.author,
        author_subject=row.author_subject,
        manifests=row.manifests,
        diff=row.diff,
        diff_hash=row.diff_hash,
        approved_hash=row.approved_hash,
        preflight=dict(row.preflight),
        preflight_blocking=row.preflight_blocking,
        waiver=row.waiver_id,
        reverts=row.reverts_id,
        approvals=approvals,
        created_at=row.created_at,
        updated_at=row.updated_at,
        decided_by=row.decided_by,
        decision_note=row.decision_note,
        applied_by=row.applied_by,
        applied_at=row.applied_at,
        commit_sha=row.commit_sha,
        window_override=row.window_override,
        finished_at=row.finished_at,
        source=dict(row.source) if row.source is not None else None,
    )


def _approval_view(approval: ChangeApproval, row: ChangeRequest, *, now: datetime) -> ApprovalView:
    return ApprovalView(
        approver=approval.approver,
        approver_subject=approval.approver_subject,
        team=approval.team,
        diff_hash=approval.diff_hash,
        approved_at=approval.approved_at,
        expires_at=approval.expires_at,
        counts=approval.diff_hash == row.diff_hash and approval.expires_at > now,
    )


def control_of(session: Session, env_id: int) -> changecontrols.ChangeControl:
    """The change control of the environment with id ``env_id``."""
    env = session.get(Environment, env_id)
    if env is None:
        raise errors.NotFound(f"no environment with id {env_id}", field="env")
    return _control(env)


def environment_control(session: Session, name: str) -> changecontrols.ChangeControl:
    env = session.scalars(select(Environment).where(Environment.name == name)).one_or_none()
    if env is None:
        raise errors.NotFound(f"no environment {name!r} in the catalog", field="env")
    return _control(env)


def _control(env: Environment) -> changecontrols.ChangeControl:
    """The stored rules; an environment that needs no approval (``requiresApproval: false``) needs none."""
    control = changecontrols.from_stored(env.change_control)
    if env.requires_approval:
        return control
    return replace(control, approvals=replace(control.approvals, required=0, second_team=""))


def find(session: Session, change_id: int) -> changerecords.Found:
    found = changerecords.change_by_id(session, change_id)
    if found is None:
        raise errors.NotFound(f"no change {change_id}", field="id")
    return found


def get_change(database: Database, change_id: int, *, now: datetime) -> ChangeView:
    with database.reading() as session:
        return view_of(session, find(session, change_id), now=now)


def list_changes(database: Database, where: changerecords.ChangeFilter, *, now: datetime) -> list[ChangeView]:
    with database.reading() as session:
        listed = changerecords.query_changes(session, where)
        approved = changerecords.approvals_of_changes(session, [found[0].id for found in listed])
        return [view_of(session, found, now=now, approved=approved[found[0].id]) for found in listed]


def step(
    session: Session,
    chain: auditing.Chain,
    row: ChangeRequest,
    *,
    event: str,
    actor: str,
    now: datetime,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Move ``row`` by ``event`` through the table and audit it, in the caller's transaction."""
    before = row.status
    row.status = next_status(before, event=event)
    row.updated_at = now
    session.flush()
    body = {"from": before, "to": row.status, "diffHash": row.diff_hash, **(details or {})}
    chain.append(actor=actor, action=f"change.{event}", target=f"change:{row.id}", at=now, details=body)


def transition(
    database: Database,
    change_id: int,
    *,
    event: str,
    actor: str,
    now: datetime,
    note: str = "",
    author_only: str | None = None,
) -> ChangeView:
    """One step without side effects beyond the row (submit, reject, cancel), in one transaction.
    ``author_only``: the subject that must be the change's author (submit and cancel are the author's)."""
    with database.transaction() as session:
        found = find(session, change_id)
        row = found[0]
        if author_only is not None and row.author_subject != author_only:
            raise errors.Forbidden(f"only the author of change {change_id} can {event} it")
        if event == "reject":
            row.decided_by, row.decision_note = actor, note
        chain = auditing.Chain(session)
        step(session, chain, row, event=event, actor=actor, now=now, details={"note": note} if note else None)
        if (
            event == "submit"
            and not row.preflight_blocking
            and control_of(session, row.env_id).approvals.required == 0
        ):
            # the environment needs no approval: approved as submitted, for this diff
            row.approved_hash, row.decided_by = row.diff_hash, SYSTEM
            reason = {"rule": "the environment needs no approval"}
            step(session, chain, row, event="approve", actor=SYSTEM, now=now, details=reason)
        chain.flush()
        return view_of(session, found, now=now)


def mark_deployed(database: Database, commit_sha: str, *, actor: str, now: datetime) -> ChangeView | None:
    """The change applied as ``commit_sha`` is running: applied → deployed. None: no change has that
    commit (a deployment made outside change control). Seen again, it changes nothing."""
    return _finish(database, commit_sha, event="deploy", actor=actor, now=now)


def mark_failed(database: Database, commit_sha: str, *, actor: str, now: datetime) -> ChangeView | None:
    """The change applied as ``commit_sha`` failed to deploy: applied → failed (idempotent, as above)."""
    return _finish(database, commit_sha, event="fail", actor=actor, now=now)


def _finish(
    database: Database, commit_sha: str, *, event: str, actor: str, now: datetime
) -> ChangeView | None:
    with database.transaction() as session:
        row = changerecords.change_by_commit(session, commit_sha)
        if row is None:
            return None
        moved = _finish_row(session, row, event=event, actor=actor, now=now, details={"commit": commit_sha})
        if not moved and row.status != TRANSITIONS[(APPLIED, event)]:
            raise errors.Conflict(f"change {row.id} is {row.status}: it cannot be marked {event}ed")
        return view_of(session, find(session, row.id), now=now)


def _finish_row(
    session: Session, row: ChangeRequest, *, event: str, actor: str, now: datetime, details: dict[str, Any]
) -> bool:
    """Move an applied (or, to deployed, a failed) change by ``event``; False when it is not such a one."""
    if (row.status, event) not in {(APPLIED, "deploy"), (APPLIED, "fail"), (FAILED, "deploy")}:
        return False
    row.finished_at = now
    chain = auditing.Chain(session)
    step(session, chain, row, event=event, actor=actor, now=now, details=details)
    chain.flush()
    return True


@dataclass(frozen=True, slots=True)
class AppliedCommit:
    """The commit a change was applied as: a deployment of it is the change going live."""

    change_id: int
    app: str
    env: str
    sha: str
    committed_at: datetime  # the writer commits with the clock's time (``applied_at``)
    reverts: int | None  # the change it reverts: its deployment is a rollback


def applied_commit(database: Database, sha: str) -> AppliedCommit | None:
    """The change whose GitOps commit is ``sha``; None for a revision made outside change control."""
    with database.reading() as session:
        row = changerecords.change_by_commit(session, sha)
        if row is None or row.commit_sha is None or row.applied_at is None:
            return None
        _, app, env, _ = find(session, row.id)
        return AppliedCommit(
            change_id=row.id,
            app=app,
            env=env,
            sha=row.commit_sha,
            committed_at=row.applied_at,
            reverts=row.reverts_id,
        )


def follow_deployment(
    session: Session,
    sha: str,
    *,
    scope: tuple[int, int],
    succeeded: bool,
    actor: str,
    now: datetime,
    deployment_id: int,
) -> int | None:
    """In the deployment's own transaction: the change applied as ``sha`` to the (app id, env id)
    ``scope`` becomes deployed (or failed). The id of the change moved; None when none moved (no such
    change, one of another app or environment, or it is there already)."""
    row = changerecords.change_by_commit(session, sha)
    if row is None or (row.app_id, row.env_id) != scope:
        return None
    event = "deploy" if succeeded else "fail"
    details = {"commit": sha, "deployment": deployment_id}
    return row.id if _finish_row(session, row, event=event, actor=actor, now=now, details=details) else None
