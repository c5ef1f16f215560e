"""The waiver routes under /api/v1/waivers and the periodic expiry task of the application.

Routes parse, ask ``authorising`` whether the caller may (``routes.authorise``), call
``governance.waivers`` with the caller's actor and subject (four eyes compare subjects) and shape the
answer; ``expire_periodically`` runs ``waiverexpiring.expire_waivers`` every few seconds while the app lives.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from leitplanke import catalog
from leitplanke.governance import (
    access,
    authorising,
    errors,
    waiverexpiring,
    waiverfigures,
    waiverfiles,
    waivers,
)
from leitplanke.service import problems, routes
from leitplanke.service.contexts import Context
from leitplanke.service.routes import ContextDep, PrincipalDep
from leitplanke.store import repositories

_log = logging.getLogger(__name__)

Name = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
Explicit = Annotated[str, Field(min_length=1, max_length=253)]
YAML = "application/yaml"
# ids are 32-bit integers in both databases
WaiverId = Annotated[int, Path(ge=1, le=2_147_483_647)]


def _aware(value: datetime) -> datetime:
    """A time without a zone is taken as UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class ResourceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Explicit
    namespace: str = Field(default="", max_length=253)
    name: Explicit


class WaiverIn(BaseModel):
    """A waiver request: explicit policies, rules and resources of one app in one env, and an expiry."""

    model_config = ConfigDict(extra="forbid")
    app: str = Name
    env: str = Name
    policies: list[Explicit] = Field(min_length=1, max_length=100)
    rules: list[Explicit] = Field(default=[], max_length=100)
    resources: list[ResourceIn] = Field(min_length=1, max_length=100)
    justification: str = Field(min_length=1, max_length=4000)
    expires: datetime

    _zone = field_validator("expires")(_aware)


class RenewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    justification: str = Field(min_length=1, max_length=4000)
    expires: datetime

    _zone = field_validator("expires")(_aware)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=4000)


class WaiverOut(BaseModel):
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
    requester_subject: str | None = Field(serialization_alias="requesterSubject")
    requested_at: datetime = Field(serialization_alias="requestedAt")
    expires: datetime
    decided_by: str = Field(serialization_alias="decidedBy")
    decided_at: datetime | None = Field(serialization_alias="decidedAt")
    decision_note: str = Field(serialization_alias="decisionNote")
    expired_at: datetime | None = Field(serialization_alias="expiredAt")
    renews: int | None


class WaiverFiguresOut(BaseModel):
    team: str
    app: str
    active: int
    waived: int
    failing: int
    ratio: float | None
    mean_age_days: float | None = Field(serialization_alias="meanAgeDays")
    max_age_days: float | None = Field(serialization_alias="maxAgeDays")


def _out(view: waivers.WaiverView) -> WaiverOut:
    return WaiverOut.model_validate(view, from_attributes=True)


def _owner(context: Context, app: str) -> str:
    owner = catalog.owner_of(context.database, app)
    if owner is None:
        raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
    return owner


def api_router() -> APIRouter:
    router = APIRouter(tags=["waivers"])
    _reading_routes(router)
    _workflow_routes(router)
    return router


def _reading_routes(router: APIRouter) -> None:
    @router.get("/waivers", response_model=list[WaiverOut], response_model_by_alias=True)
    def list_waivers(
        context: ContextDep,
        principal: PrincipalDep,
        app: str | None = None,
        env: str | None = None,
        team: str | None = None,
        status: Literal["requested", "approved", "rejected", "expired"] | None = None,
    ) -> list[WaiverOut]:
        """Waivers of the caller's team (all teams for a platform-admin), oldest first."""
        routes.check_scope(context, principal, "waivers.read", team=team, app=app)
        where = repositories.WaiverFilter(
            app=app, env=env, team=team, status=status, team_ids=principal.visible_team_ids()
        )
        return [_out(view) for view in waivers.list_waivers(context.database, where)]

    @router.get("/waivers/figures", response_model=list[WaiverFiguresOut], response_model_by_alias=True)
    def figures(
        context: ContextDep, principal: PrincipalDep, team: str | None = None, app: str | None = None
    ) -> list[waiverfigures.WaiverFigures]:
        """Active waivers, waived and failing findings, waiver ratio and waiver age, per team and app."""
        routes.check_scope(context, principal, "waivers.figures", team=team, app=app)
        return waiverfigures.build_figures(
            context.database, now=context.clock(), team=team, app=app, team_ids=principal.visible_team_ids()
        )

    @router.get(
        "/waivers/export",
        response_class=Response,
        responses={200: {"content": {YAML: {}}}, **problems.responses(404)},
    )
    def export(
        context: ContextDep,
        principal: PrincipalDep,
        app: Annotated[str, Query(min_length=1, max_length=100)],
        env: str | None = None,
        format: Literal["native", "kyverno"] = "native",
    ) -> Response:
        """The app's active waivers as ``kind: Waiver`` files (``scan --waivers``) or Kyverno
        ``PolicyException`` objects (``format=kyverno``)."""
        owner = _owner(context, app)
        routes.authorise(context, principal, "waivers.export", authorising.for_app(app, owner))
        now = context.clock()
        where = repositories.WaiverFilter(app=app, env=env, status=waivers.APPROVED)
        active = [view for view in waivers.list_waivers(context.database, where) if view.expires > now]
        render = waiverfiles.render_kyverno if format == "kyverno" else waiverfiles.render_native
        return Response(render(active), media_type=YAML)

    @router.get(
        "/waivers/{waiver_id}",
        response_model=WaiverOut,
        response_model_by_alias=True,
        responses=problems.responses(404),
    )
    def get_waiver(waiver_id: WaiverId, context: ContextDep, principal: PrincipalDep) -> WaiverOut:
        view = waivers.get_waiver(context.database, waiver_id)
        routes.authorise(context, principal, "waiver.read", authorising.for_waiver(view.id, view.team))
        return _out(view)


def _workflow_routes(router: APIRouter) -> None:
    @router.post(
        "/waivers",
        status_code=201,
        response_model=WaiverOut,
        response_model_by_alias=True,
        responses=problems.responses(404),
    )
    def request_waiver(body: WaiverIn, context: ContextDep, principal: PrincipalDep) -> WaiverOut:
        """Request a waiver (developer of the owning team); it covers nothing until approved."""
        owner = _owner(context, body.app)
        routes.authorise(context, principal, "waiver.request", authorising.for_app(body.app, owner))
        request = waivers.WaiverRequest(
            app=body.app,
            env=body.env,
            policies=tuple(body.policies),
            rules=tuple(body.rules),
            resources=tuple(waivers.ResourceRef(r.kind, r.name, r.namespace) for r in body.resources),
            justification=body.justification,
            expires=body.expires,
        )
        view = waivers.request_waiver(
            context.database,
            request,
            actor=principal.actor,
            subject=principal.subject,
            now=context.clock(),
            max_days=context.settings.max_waiver_days,
        )
        return _out(view)

    @router.post(
        "/waivers/{waiver_id}/renew",
        status_code=201,
        response_model=WaiverOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409),
    )
    def renew(waiver_id: WaiverId, body: RenewIn, context: ContextDep, principal: PrincipalDep) -> WaiverOut:
        """Request a new waiver with the scope of an approved or expired one, linked to it."""
        old = waivers.get_waiver(context.database, waiver_id)
        routes.authorise(context, principal, "waiver.renew", authorising.for_waiver(old.id, old.team))
        view = waivers.renew_waiver(
            context.database,
            waiver_id,
            justification=body.justification,
            expires=body.expires,
            actor=principal.actor,
            subject=principal.subject,
            now=context.clock(),
            max_days=context.settings.max_waiver_days,
        )
        return _out(view)

    def decide(
        waiver_id: int, body: DecisionIn, context: Context, principal: access.Principal, *, approve: bool
    ) -> WaiverOut:
        view = waivers.get_waiver(context.database, waiver_id)
        action = "waiver.approve" if approve else "waiver.reject"
        resource = authorising.for_waiver(view.id, view.team, requester=view.requester_subject)
        routes.authorise(context, principal, action, resource)
        try:
            decided = waivers.decide_waiver(
                context.database,
                waiver_id,
                approve=approve,
                note=body.note,
                actor=principal.actor,
                subject=principal.subject,
                now=context.clock(),
            )
        except errors.Forbidden:
            context.metrics.denials.inc()
            raise
        return _out(decided)

    @router.post(
        "/waivers/{waiver_id}/approve",
        response_model=WaiverOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409),
    )
    def approve(
        waiver_id: WaiverId, body: DecisionIn, context: ContextDep, principal: PrincipalDep
    ) -> WaiverOut:
        """Approve a requested waiver (approver or admin of the owning team, or platform-admin; never the
        requester): the findings it covers become waived."""
        return decide(waiver_id, body, context, principal, approve=True)

    @router.post(
        "/waivers/{waiver_id}/reject",
        response_model=WaiverOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409),
    )
    def reject(
        waiver_id: WaiverId, body: DecisionIn, context: ContextDep, principal: PrincipalDep
    ) -> WaiverOut:
        """Reject a requested waiver (the same roles as approving)."""
        return decide(waiver_id, body, context, principal, approve=False)


async def expire_periodically(context: Context, *, every: float) -> None:
    """Expire due waivers every ``every`` seconds until cancelled; a failed round is logged and retried."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(waiverexpiring.expire_waivers, context.database, now=context.clock())
        except Exception:  # the edge: a round that fails (database away) must not end the task
            _log.exception("waiver expiry failed; retrying in %s s", every)
