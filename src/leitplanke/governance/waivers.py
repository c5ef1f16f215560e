"""Waivers as a workflow: requested → approved or rejected → expired, with a renewal as a new request.

An approved, unexpired waiver turns the findings it covers to ``waived`` (``waivedfindings``; their
SLA clock pauses, see ``slas``); its expiry (``waiverexpiring``) turns them back to ``reopened``.
Every step is appended to the audit chain. Called by the service's waiver routes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from leitplanke.core import waivers as core_waivers
from leitplanke.governance import auditing, errors, waivedfindings
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import Waiver

REQUESTED, APPROVED, REJECTED, EXPIRED = "requested", "approved", "rejected", "expired"
STATUSES = (REQUESTED, APPROVED, REJECTED, EXPIRED)
SYSTEM = "system"  # the actor of automatic expiry
_GLOB = frozenset("*?[]")


def waiver_name(waiver_id: int) -> str:
    """The name a waiver carries on findings, in pulled files and in PolicyExceptions."""
    return f"waiver-{waiver_id}"


@dataclass(frozen=True, slots=True)
class ResourceRef:
    kind: str
    name: str
    namespace: str = ""  # empty for cluster-scoped resources

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True, slots=True)
class WaiverRequest:
    app: str
    env: str
    policies: tuple[str, ...]
    resources: tuple[ResourceRef, ...]
    justification: str
    expires: datetime
    rules: tuple[str, ...] = ()  # empty: every rule of the policies


@dataclass(frozen=True, slots=True)
class WaiverView:
    id: int
    name: str
    app: str
    env: str
    team: str
    policies: list[str]
    rules: list[str]
    resources: list[dict[str, str]]
    justification: str
    status: str
    requester: str
    requester_subject: str | None  # None: requested before subjects (migration 0005)
    requested_at: datetime
    expires: datetime
    decided_by: str
    decided_at: datetime | None
    decision_note: str
    expired_at: datetime | None
    renews: int | None


def _view(row: Waiver, app: str, env: str, team: str) -> WaiverView:
    return WaiverView(
        id=row.id,
        name=waiver_name(row.id),
        app=app,
        env=env,
        team=team,
        policies=list(row.policies),
        rules=list(row.rules),
        resources=[dict(r) for r in row.resources],
        justification=row.justification,
        status=row.status,
        requester=row.requester,
        requester_subject=row.requester_subject,
        requested_at=row.requested_at,
        expires=row.expires,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        decision_note=row.decision_note,
        expired_at=row.expired_at,
        renews=row.renews_id,
    )


def to_core(row: Waiver, *, owner: str = "") -> core_waivers.Waiver:
    """The engine's waiver: one scope per resource, so that it covers exactly the named resources."""
    scopes = tuple(
        core_waivers.WaiverScope(
            kinds=(r["kind"],), namespaces=(r["namespace"],) if r["namespace"] else (), names=(r["name"],)
        )
        for r in row.resources
    )
    return core_waivers.Waiver(
        name=waiver_name(row.id),
        policies=tuple(row.policies),
        rules=tuple(row.rules),
        scopes=scopes,
        reason=row.justification,
        owner=owner,
        approver=row.decided_by,
        requester=row.requester,
        expires=row.expires,
    )


# --- request, renew, approve, reject -----------------------------------------------------------


def check_request(request: WaiverRequest, *, now: datetime, max_days: int) -> None:
    """Refuse a scope that is not explicit or an expiry that is past or beyond the cap."""
    if not request.justification.strip():
        raise errors.Invalid("a waiver needs a justification", field="justification")
    _explicit("policies", request.policies, required=True)
    _explicit("rules", request.rules, required=False)
    if not request.resources:
        raise errors.Invalid("a waiver names the resources it covers", field="resources")
    for index, ref in enumerate(request.resources):
        for key, value, required in (
            ("kind", ref.kind, True),
            ("name", ref.name, True),
            ("namespace", ref.namespace, False),
        ):
            where = f"resources[{index}].{key}"
            if required and not value:
                raise errors.Invalid(f"{where} is required: a waiver names its resources", field=where)
            if _GLOB & set(value):
                raise errors.Invalid(f"{where} {value!r}: name it explicitly, without wildcards", field=where)
    if request.expires <= now:
        raise errors.Invalid("expires must be in the future", field="expires")
    if request.expires - now > timedelta(days=max_days):
        limit = (now + timedelta(days=max_days)).isoformat()
        raise errors.Invalid(
            f"expires {request.expires.isoformat()} is more than {max_days} days away (at most {limit})",
            field="expires",
        )


def _explicit(key: str, names: Sequence[str], *, required: bool) -> None:
    if required and not names:
        raise errors.Invalid(f"a waiver names its {key}", field=key)
    for index, name in enumerate(names):
        if not name or _GLOB & set(name):
            raise errors.Invalid(
                f"{key}[{index}] {name!r}: name it explicitly, without wildcards", field=f"{key}[{index}]"
            )


def request_waiver(
    database: Database,
    request: WaiverRequest,
    *,
    actor: str,
    now: datetime,
    max_days: int,
    renews: int | None = None,
    subject: str | None = None,
) -> WaiverView:
    """A requested waiver of ``actor``; ``subject`` (the person or workload behind the actor, its
    actor when not given) is what four eyes compare when it is decided."""
    check_request(request, now=now, max_days=max_days)
    with database.transaction() as session:
        app_row = repositories.app_by_name(session, request.app)
        if app_row is None:
            raise errors.NotFound(f"no application {request.app!r} in the catalog", field="app")
        env_row = repositories.environment_by_name(session, request.env)
        if env_row is None:
            raise errors.NotFound(f"no environment {request.env!r} in the catalog", field="env")
        row = Waiver(
            app_id=app_row.id,
            env_id=env_row.id,
            policies=list(request.policies),
            rules=list(request.rules),
            resources=[ref.as_dict() for ref in request.resources],
            justification=request.justification,
            status=REQUESTED,
            requester=actor,
            requester_subject=subject or actor,
            requested_at=now,
            expires=request.expires,
            decided_by="",
            decided_at=None,
            decision_note="",
            expired_at=None,
            renews_id=renews,
        )
        repositories.add(session, row)
        chain = auditing.Chain(session)
        details: dict[str, Any] = {
            "app": request.app,
            "env": request.env,
            "policies": row.policies,
            "rules": row.rules,
            "resources": row.resources,
            "expires": auditing.format_time(request.expires),
            "justification": request.justification,
            "renews": renews,
        }
        chain.append(
            actor=actor, action="waiver.requested", target=f"waiver:{row.id}", at=now, details=details
        )
        chain.flush()
        found = repositories.waiver_by_id(session, row.id)
        assert found is not None
        return _view(*found)


def renew_waiver(
    database: Database,
    waiver_id: int,
    *,
    justification: str,
    expires: datetime,
    actor: str,
    now: datetime,
    max_days: int,
    subject: str | None = None,
) -> WaiverView:
    """A new request with the scope of an approved or expired waiver, linked to it."""
    old = get_waiver(database, waiver_id)
    if old.status not in (APPROVED, EXPIRED):
        raise errors.Conflict(f"waiver {waiver_id} is {old.status}: only approved or expired waivers renew")
    request = WaiverRequest(
        app=old.app,
        env=old.env,
        policies=tuple(old.policies),
        rules=tuple(old.rules),
        resources=tuple(ResourceRef(r["kind"], r["name"], r["namespace"]) for r in old.resources),
        justification=justification,
        expires=expires,
    )
    return request_waiver(
        database, request, actor=actor, now=now, max_days=max_days, renews=waiver_id, subject=subject
    )


def get_waiver(database: Database, waiver_id: int) -> WaiverView:
    with database.reading() as session:
        found = repositories.waiver_by_id(session, waiver_id)
        if found is None:
            raise errors.NotFound(f"no waiver {waiver_id}", field="id")
        return _view(*found)


def list_waivers(database: Database, where: repositories.WaiverFilter) -> list[WaiverView]:
    with database.reading() as session:
        return [_view(*found) for found in repositories.query_waivers(session, where)]


def decide_waiver(
    database: Database,
    waiver_id: int,
    *,
    approve: bool,
    note: str,
    actor: str,
    now: datetime,
    subject: str | None = None,
) -> WaiverView:
    """Approve (the covered findings become waived) or reject a requested waiver.

    The requester never decides their own request, whichever of their tokens they use: ``subject``
    (the actor's person or workload; the actor when not given) is compared with the requester's. The
    refusal is audited and raised as Forbidden.
    """
    with database.transaction() as session:
        found = repositories.waiver_by_id(session, waiver_id)
        if found is None:
            raise errors.NotFound(f"no waiver {waiver_id}", field="id")
        row, app, env, _team = found
        self_decision = _same_requester(row, actor=actor, subject=subject or actor)
        if not self_decision:
            _decide(session, row, scope=(app, env), approve=approve, note=note, actor=actor, now=now)
    if self_decision:
        verb = "approve" if approve else "reject"
        auditing.record(
            database,
            actor=actor,
            action="access.denied",
            target=f"waiver:{waiver_id}",
            now=now,
            details={
                "wanted": f"{verb} a waiver",
                "reason": "the requester cannot decide their own waiver",
                "subject": subject or actor,
            },
        )
        raise errors.Forbidden(f"{subject or actor} requested waiver {waiver_id} and cannot {verb} it")
    return get_waiver(database, waiver_id)


def _same_requester(row: Waiver, *, actor: str, subject: str) -> bool:
    if row.requester_subject is not None:
        return row.requester_subject == subject
    # requested before subjects: the requester is known only as ``token:<name>``, which today's actor
    # (``<subject> via token:<name>``) ends with; compared as before, by the token's name
    return actor == row.requester or actor.endswith(f" via {row.requester}")


def _decide(
    session: Session,
    row: Waiver,
    *,
    scope: tuple[str, str],
    approve: bool,
    note: str,
    actor: str,
    now: datetime,
) -> None:
    if row.status != REQUESTED:
        raise errors.Conflict(f"waiver {row.id} is {row.status}, not requested")
    if approve and row.expires <= now:
        raise errors.Conflict(f"waiver {row.id} expired before it was approved", field="expires")
    row.status = APPROVED if approve else REJECTED
    row.decided_by, row.decided_at, row.decision_note = actor, now, note
    session.flush()
    chain = auditing.Chain(session)
    details = {"note": note, "expires": auditing.format_time(row.expires)}
    chain.append(
        actor=actor, action=f"waiver.{row.status}", target=f"waiver:{row.id}", at=now, details=details
    )
    if approve:
        waivedfindings.cover(
            session,
            chain,
            to_core(row),
            app_id=row.app_id,
            env_id=row.env_id,
            scope=scope,
            actor=actor,
            now=now,
        )
    chain.flush()
