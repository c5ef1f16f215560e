"""Delivery routes: the webhooks of Argo CD, Flux, CI and Alertmanager under /hooks; deployments and
incidents under /api/v1 (the DORA figures: ``service.dorafigures``).

A webhook is authenticated before its body is read: an API token (``Authorization: Bearer``), or an
HMAC-SHA256 signature of the body (``X-Signature: sha256=<hex>``, Flux's generic-hmac provider) with
the shared secret of the settings, checked on the bounded raw body before it is parsed. Events are
parsed by ``delivery.deliveryevents`` and stored by ``deployments`` and ``incidents`` (idempotent).
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.concurrency import run_in_threadpool

from leitplanke import catalog
from leitplanke.delivery import deliveryevents, deployments, incidents
from leitplanke.governance import access, authorising, errors
from leitplanke.service import problems, routes
from leitplanke.service.contexts import Context
from leitplanke.service.routes import ContextDep, PrincipalDep
from leitplanke.service.waiving import Name
from leitplanke.store import deliveries

MAX_EVENT_BYTES = 1024 * 1024  # an Alertmanager group of 1,000 alerts is ~1 MB; a deployment event < 10 kB
SIGNATURE_HEADERS = (b"x-signature", b"x-hub-signature-256")
HMAC_ACTOR = "webhook:hmac"
_HMAC_DIGESTS = {
    "sha224": hashlib.sha224,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
IncidentId = Annotated[int, Path(ge=1, le=2_147_483_647)]


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent an event: a token's principal, or (None) the holder of the shared HMAC secret, who may
    record events of every app, as a platform-wide integration."""

    principal: access.Principal | None

    @property
    def actor(self) -> str:
        return HMAC_ACTOR if self.principal is None else self.principal.actor


def hooks_router() -> APIRouter:
    router = APIRouter(prefix="/hooks", tags=["delivery"])
    deployment_hooks: dict[str, Callable[[Any], deliveryevents.DeploymentEvent | None]] = {
        "argocd": deliveryevents.parse_argocd,
        "flux": deliveryevents.parse_flux,
        "ci": deliveryevents.parse_ci,
    }
    for source, parse in deployment_hooks.items():
        _deployment_hook(router, source, parse)

    @router.post("/alertmanager", responses=problems.responses(400, 401, 403, 413, 422))
    async def alertmanager(request: Request) -> JSONResponse:
        """Alertmanager's webhook: each alert with app and env labels opens (firing) or resolves
        (resolved) an incident; the same notification twice changes nothing."""
        context: Context = request.app.state.context
        caller, payload = await _receive(request, context)
        found, skipped = deliveryevents.parse_alertmanager(payload)
        answers, unknown = await run_in_threadpool(_record_alerts, context, caller, found)
        skipped_out = [{"index": s.index, "reason": s.reason} for s in skipped]
        skipped_out += [{"key": key, "reason": reason} for key, reason in unknown.items()]
        for answer in answers:
            _count(request, "alertmanager", answer["outcome"])
        return JSONResponse({"incidents": answers, "skipped": skipped_out})

    return router


def _deployment_hook(
    router: APIRouter, source: str, parse: Callable[[Any], deliveryevents.DeploymentEvent | None]
) -> None:
    async def hook(request: Request) -> JSONResponse:
        context: Context = request.app.state.context
        caller, payload = await _receive(request, context)
        event = parse(payload)
        if event is None:
            _count(request, source, "ignored")
            return JSONResponse({"outcome": "ignored"}, status_code=202)
        recorded = await run_in_threadpool(_record_deployment, context, caller, event)
        _count(request, source, recorded.outcome)
        return JSONResponse(
            {
                "outcome": recorded.outcome,
                "deployment": recorded.deployment_id,
                "app": recorded.app,
                "env": recorded.env,
                "revision": recorded.revision,
                "status": recorded.status,
                "commits": recorded.commits,
                **({"problem": recorded.problem} if recorded.problem else {}),
                # the change applied as this revision, moved to deployed or failed by this event
                **({"change": recorded.change} if recorded.change is not None else {}),
            }
        )

    hook.__name__ = f"{source}_event"
    hook.__doc__ = {
        "argocd": "Argo CD notifications (on-deployed, on-sync-failed): ``{trigger, application}``.",
        "flux": "Flux notification-controller events (generic or generic-hmac provider).",
        "ci": "A CI pipeline's deployment: ``{app, env, revision, status, time}``.",
    }[source]
    router.post(f"/{source}", responses=problems.responses(400, 401, 403, 404, 413, 422))(hook)


def _count(request: Request, source: str, outcome: str) -> None:
    counter = getattr(request.app.state, "delivery_events", None)
    if counter is not None:
        counter.labels(source, outcome).inc()


async def _receive(request: Request, context: Context) -> tuple[Caller, Any]:
    """The caller and the decoded JSON body: authenticated by headers first, the body read only then
    (at most ``MAX_EVENT_BYTES``), a signature checked before the body is parsed."""
    headers = dict(request.scope.get("headers", []))
    token = access.bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
    signature = next((headers[name] for name in SIGNATURE_HEADERS if name in headers), None)
    principal = None
    if token is not None:
        principal = await run_in_threadpool(access.authenticate, context.database, token)
        if principal is None:
            raise _unauthenticated("the API token is unknown or revoked")
    elif signature is None or not context.settings.delivery_webhook_secret:
        raise _unauthenticated("send an API token (Authorization: Bearer) or an X-Signature")
    declared = headers.get(b"content-length", b"")
    if declared.isdigit() and int(declared) > MAX_EVENT_BYTES:
        raise problems.too_large(MAX_EVENT_BYTES)
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_EVENT_BYTES:
            raise problems.too_large(MAX_EVENT_BYTES)
    if token is None and not _signed(bytes(body), signature or b"", context.settings.delivery_webhook_secret):
        raise _unauthenticated("the X-Signature does not match the body")
    try:
        return Caller(principal), orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise problems.malformed(f"the body is not valid JSON: {exc}") from None


def _signed(body: bytes, signature: bytes, secret: str) -> bool:
    """``<hash>=<hex>`` of an HMAC over the body with the shared secret: sha256 (Flux's default and
    GitHub's ``X-Hub-Signature-256``), sha224, sha384 or sha512; any other is no signature."""
    name, _, given = signature.decode("latin-1").strip().partition("=")
    digest = _HMAC_DIGESTS.get(name.lower())
    if digest is None:
        return False
    wanted = hmac.new(secret.encode(), body, digest).hexdigest()
    return hmac.compare_digest(given.lower(), wanted)


def _unauthenticated(detail: str) -> problems.Refusal:
    return problems.Refusal(401, "Unauthorized", detail=detail, field="authorization")


def _allow(context: Context, caller: Caller, action: str, app: str) -> None:
    """A token's principal needs its role in the app's owning team; the HMAC secret's holder may all."""
    if caller.principal is None:
        return
    owner = catalog.owner_of(context.database, app)
    if owner is None:
        raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
    routes.authorise(context, caller.principal, action, authorising.for_app(app, owner))


def _record_deployment(
    context: Context, caller: Caller, event: deliveryevents.DeploymentEvent
) -> deployments.Recorded:
    _allow(context, caller, "delivery.record", event.app)
    return deployments.record_deployment(
        context.database,
        event,
        actor=caller.actor,
        now=context.clock(),
        mirrors=context.settings.delivery_git_mirrors,
    )


def _record_alerts(
    context: Context, caller: Caller, found: list[deliveryevents.IncidentEvent]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The incidents recorded, and the keys of alerts skipped for an app or env not in the catalog
    (Alertmanager would resend the whole group forever if one unknown label refused it)."""
    known = {event.app for event in found if catalog.owner_of(context.database, event.app) is not None}
    for app in sorted(known):  # every app allowed before anything is written
        _allow(context, caller, "delivery.record", app)
    answers, skipped = [], {}
    for event in found:
        if event.app not in known:
            skipped[event.key] = f"no application {event.app!r} in the catalog"
            continue
        try:
            outcome = incidents.record_incident(
                context.database, event, source="alertmanager", actor=caller.actor, now=context.clock()
            )
        except errors.NotFound as exc:  # the environment
            skipped[event.key] = str(exc)
            continue
        answers.append({"key": event.key, "incident": outcome.incident.id, "outcome": outcome.outcome})
    return answers, skipped


def _aware(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


class IncidentIn(BaseModel):
    """An incident opened by hand or by a tool; ``key`` makes a retried request one incident."""

    model_config = ConfigDict(extra="forbid")
    app: str = Name
    env: str = Name
    title: str = Field(min_length=1, max_length=500)
    key: str | None = Field(default=None, min_length=1, max_length=200)
    opened_at: datetime | None = Field(default=None, alias="openedAt")

    _zone = field_validator("opened_at")(_aware)


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    resolved_at: datetime | None = Field(default=None, alias="resolvedAt")

    _zone = field_validator("resolved_at")(_aware)


class IncidentOut(BaseModel):
    id: int
    key: str
    app: str
    env: str
    title: str
    source: str
    opened_at: datetime = Field(serialization_alias="openedAt")
    resolved_at: datetime | None = Field(serialization_alias="resolvedAt")
    deployment_id: int | None = Field(serialization_alias="deployment")


def _not_future(value: datetime | None, *, now: datetime, field: str) -> datetime:
    """``value`` (``now`` when not given), never later than now: an incident is told as it happens."""
    if value is None:
        return now
    if value > now:
        raise errors.Invalid(f"{field}: {value.isoformat()} is in the future", field=field)
    return value


def _out(view: incidents.IncidentView) -> IncidentOut:
    return IncidentOut.model_validate(view, from_attributes=True)


class DeploymentOut(BaseModel):
    id: int
    app: str
    env: str
    revision: str
    status: str
    rollback: bool
    source: str
    deployed_at: datetime = Field(serialization_alias="deployedAt")
    rolled_back_at: datetime | None = Field(serialization_alias="rolledBackAt")
    commits: int


def api_router() -> APIRouter:
    router = APIRouter(tags=["delivery"])

    @router.get("/deployments", response_model=list[DeploymentOut], response_model_by_alias=True)
    def list_deployments(
        context: ContextDep,
        principal: PrincipalDep,
        app: str | None = None,
        team: str | None = None,
        env: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[DeploymentOut]:
        """Deployments of the caller's team (all teams for a platform-admin), newest first."""
        routes.check_scope(context, principal, "delivery.read", team=team, app=app)
        scope = deliveries.Scope(app=app, team=team, team_ids=principal.visible_team_ids())
        found = deployments.list_deployments(context.database, scope, env=env, limit=limit)
        return [DeploymentOut.model_validate(view, from_attributes=True) for view in found]

    @router.get("/incidents", response_model=list[IncidentOut], response_model_by_alias=True)
    def list_incidents(
        context: ContextDep,
        principal: PrincipalDep,
        app: str | None = None,
        team: str | None = None,
        env: str | None = None,
        open: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[IncidentOut]:
        """Incidents of the caller's team (all teams for a platform-admin), newest first."""
        routes.check_scope(context, principal, "delivery.read", team=team, app=app)
        scope = deliveries.Scope(app=app, team=team, team_ids=principal.visible_team_ids())
        found = incidents.list_incidents(context.database, scope, env=env, open_only=open, limit=limit)
        return [_out(view) for view in found]

    @router.post(
        "/incidents",
        status_code=201,
        response_model=IncidentOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409),
    )
    def open_incident(body: IncidentIn, context: ContextDep, principal: PrincipalDep) -> IncidentOut:
        """Open an incident of an app in an environment (developer of the owning team); it counts against
        the deployment live when it opened."""
        _allow(context, Caller(principal), "incident.open", body.app)
        now = context.clock()
        event = deliveryevents.IncidentEvent(
            key=f"api:{body.key or uuid.uuid4().hex}",
            app=body.app,
            env=body.env,
            title=body.title,
            opened_at=_not_future(body.opened_at, now=now, field="openedAt"),
            resolved_at=None,
        )
        outcome = incidents.record_incident(
            context.database, event, source="api", actor=principal.actor, now=now
        )
        return _out(outcome.incident)

    @router.post(
        "/incidents/{incident_id}/resolve",
        response_model=IncidentOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409),
    )
    def resolve_incident(
        incident_id: IncidentId, body: ResolveIn, context: ContextDep, principal: PrincipalDep
    ) -> IncidentOut:
        """Resolve an open incident (developer of the owning team)."""
        view, owner = incidents.get_incident(context.database, incident_id)
        routes.authorise(context, principal, "incident.resolve", authorising.for_app(view.app, owner))
        now = context.clock()
        resolved = incidents.resolve_incident(
            context.database,
            incident_id,
            resolved_at=_not_future(body.resolved_at, now=now, field="resolvedAt"),
            actor=principal.actor,
            now=now,
        )
        return _out(resolved)

    return router
