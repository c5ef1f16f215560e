"""The routes: parse the request, ask ``authorising`` whether the caller may, call a governance use
case, shape the answer. No route names a role: the table in ``governance.authorising`` does.

``health_router`` serves /healthz, /readyz and /metrics without a token; ``api_router`` serves
/api/v1 and needs ``Authorization: Bearer <token>`` on every call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leitplanke import catalog
from leitplanke.catalog import changecontrols
from leitplanke.governance import (
    access,
    auditing,
    auditverifying,
    authorising,
    errors,
    findingviews,
    slas,
)
from leitplanke.service import cursors, problems, schemas
from leitplanke.service.contexts import Context
from leitplanke.service.metrics import CONTENT_TYPE
from leitplanke.store import auditrecords, repositories

_bearer = HTTPBearer(auto_error=False)
# the largest INTEGER column value on both databases: larger offsets and ids are refused with 422,
# not passed to SQLite, which cannot bind integers past 2**63 (found by the OpenAPI property test)
MAX_INT = 2**31 - 1


def _context(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


ContextDep = Annotated[Context, Depends(_context)]


def _principal(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> access.Principal:
    return principal_of(_context(request), None if credentials is None else credentials.credentials)


def principal_of(context: Context, token: str | None) -> access.Principal:
    """The principal of an active token; 401 for none, an unknown or a revoked one."""
    principal = None if token is None else access.authenticate(context.database, token)
    if principal is None:
        raise HTTPException(401, "A valid API token is required", headers={"WWW-Authenticate": "Bearer"})
    return principal


PrincipalDep = Annotated[access.Principal, Depends(_principal)]


def authorise(
    context: Context, principal: access.Principal, action: str, resource: authorising.Resource
) -> None:
    """``authorising.enforce`` for a request: a refusal is counted, logged and raised (403)."""
    decision = authorising.authorise(principal, action, resource)
    if decision.allowed:
        return
    context.metrics.denials.inc()  # every denial, also those the audit log only counts
    authorising.refuse(
        principal, decision, resource, database=context.database, denials=context.denials, now=context.clock()
    )


def health_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The process answers: on the event loop itself, so that it answers exactly when the loop is free
        (no worker thread to wait for)."""
        return {"status": "ok"}

    @router.get("/readyz", tags=["health"], responses=problems.responses(503))
    def readyz(context: ContextDep) -> Response:
        """The database answers."""
        if context.database.ping():
            return Response('{"status":"ready"}', media_type="application/json")
        return problems.problem(503, "Not ready", detail="the database does not answer")

    @router.get("/metrics", tags=["health"])
    def prometheus(context: ContextDep) -> Response:
        """Prometheus metrics of this instance."""
        return Response(context.metrics.render(), media_type=CONTENT_TYPE)

    return router


def api_router() -> APIRouter:
    router = APIRouter()  # the scan upload: service.uploads
    _finding_routes(router)
    _catalog_routes(router)
    _audit_routes(router)
    return router


def _finding_routes(router: APIRouter) -> None:
    @router.get(
        "/findings", response_model=schemas.FindingPage, response_model_by_alias=True, tags=["findings"]
    )
    def list_findings(
        context: ContextDep,
        principal: PrincipalDep,
        app: str | None = None,
        team: str | None = None,
        env: str | None = None,
        policy: str | None = None,
        severity: Literal["critical", "high", "medium", "low", "info"] | None = None,
        status: Literal["new", "open", "fixed", "reopened", "waived"] | None = None,
        overdue: bool = False,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
        cursor: Annotated[str | None, Query(max_length=100)] = None,
    ) -> dict[str, Any]:
        """Findings of the caller's team (all teams for a platform-admin), filtered, in id order.

        Page with ``cursor``: pass the ``next`` of the previous page (null on the last page); deep
        pages cost no more than the first. ``offset`` is still accepted, without a cursor."""
        check_scope(context, principal, "findings.read", team=team, app=app)
        after = cursors.after("finding", cursor, offset=offset)
        now = context.clock()
        where = repositories.FindingFilter(
            app=app,
            team=team,
            env=env,
            policy=policy,
            severity=severity,
            status=status,
            overdue_at=now if overdue else None,
            team_ids=principal.visible_team_ids(),
        )
        page = findingviews.page_findings(
            context.database, where, limit=limit, offset=offset, after=after, now=now
        )
        items = [schemas.FindingOut.model_validate(view, from_attributes=True) for view in page.items]
        following = cursors.encode("finding", page.items[-1].id) if page.more else None
        return {"total": page.total, "limit": limit, "offset": offset, "next": following, "items": items}

    @router.get(
        "/slas", response_model=list[schemas.FiguresOut], response_model_by_alias=True, tags=["findings"]
    )
    def sla_figures(
        context: ContextDep, principal: PrincipalDep, team: str | None = None, app: str | None = None
    ) -> list[slas.Figures]:
        """Open, overdue, mean days to remediate and share fixed within SLA, per team and app."""
        check_scope(context, principal, "slas.read", team=team, app=app)
        return slas.build_figures(
            context.database, now=context.clock(), team=team, app=app, team_ids=principal.visible_team_ids()
        )


def check_scope(
    context: Context, principal: access.Principal, action: str, *, team: str | None, app: str | None
) -> None:
    """A listing filtered by team and app: a team-bound caller asking for another team's (or another
    team's app's) data is refused."""
    if principal.is_platform_admin:
        return
    for resource in authorising.listing(context.database, principal, team=team, app=app):
        authorise(context, principal, action, resource)


def _catalog_routes(router: APIRouter) -> None:
    @router.get("/teams", tags=["catalog"])
    def teams(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """Every team (any authenticated caller: the catalog is organisation metadata)."""
        authorise(context, principal, "catalog.read", authorising.CATALOG)
        return list(catalog.snapshot(context.database)["teams"])

    @router.get("/apps", tags=["catalog"])
    def apps(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """Every application and its owning team (any authenticated caller)."""
        authorise(context, principal, "catalog.read", authorising.CATALOG)
        return list(catalog.snapshot(context.database)["apps"])

    @router.get("/environments", tags=["catalog"])
    def environments(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """Every environment: its enforcement, whether it needs approval, and its change control."""
        authorise(context, principal, "catalog.read", authorising.CATALOG)
        return list(catalog.snapshot(context.database)["environments"])

    def put_team(
        body: schemas.TeamIn, context: Context, principal: access.Principal, *, new: bool
    ) -> dict[str, str]:
        if new:
            authorise(context, principal, "team.create", authorising.Resource(f"team:{body.name}"))
        else:
            authorise(context, principal, "team.write", authorising.for_team(body.name))
        spec = catalog.TeamSpec(name=body.name, title=body.title)
        outcome = catalog.put_team(
            context.database, spec, actor=principal.actor, now=context.clock(), must_be_new=new
        )
        return {"name": body.name, "outcome": outcome}

    @router.post("/teams", status_code=201, tags=["catalog"], responses=problems.responses(409))
    def create_team(body: schemas.TeamIn, context: ContextDep, principal: PrincipalDep) -> dict[str, str]:
        """Create a team (platform-admin)."""
        return put_team(body, context, principal, new=True)

    @router.put("/teams/{name}", tags=["catalog"])
    def update_team(
        name: str, body: schemas.TeamIn, context: ContextDep, principal: PrincipalDep
    ) -> dict[str, str]:
        """Create or update a team (its admin, or platform-admin)."""
        _same_name(name, body.name)
        return put_team(body, context, principal, new=False)

    def put_app(
        body: schemas.AppIn, context: Context, principal: access.Principal, *, new: bool
    ) -> dict[str, str]:
        current = catalog.owner_of(context.database, body.name)
        owners = (body.owner,) if current in (None, body.owner) else (current, body.owner)
        authorise(context, principal, "app.write", authorising.Resource(f"app:{body.name}", owners))
        spec = catalog.AppSpec(
            name=body.name,
            owner=body.owner,
            value_stream=body.value_stream,
            lifecycle=body.lifecycle,
            cloud_native=body.cloud_native,
            repository=body.repository,
        )
        outcome = catalog.put_app(
            context.database, spec, actor=principal.actor, now=context.clock(), must_be_new=new
        )
        return {"name": body.name, "outcome": outcome}

    @router.post("/apps", status_code=201, tags=["catalog"], responses=problems.responses(409))
    def create_app_entry(body: schemas.AppIn, context: ContextDep, principal: PrincipalDep) -> dict[str, str]:
        """Register an application (admin of its owning team)."""
        return put_app(body, context, principal, new=True)

    @router.put("/apps/{name}", tags=["catalog"])
    def update_app(
        name: str, body: schemas.AppIn, context: ContextDep, principal: PrincipalDep
    ) -> dict[str, str]:
        """Create or update an application (admin of the old and the new owning team)."""
        _same_name(name, body.name)
        return put_app(body, context, principal, new=False)

    def put_environment(
        body: schemas.EnvironmentIn, context: Context, principal: access.Principal, *, new: bool
    ) -> dict[str, str]:
        authorise(context, principal, "environment.write", authorising.for_environment(body.name))
        control, wrong = changecontrols.parse_change_control(body.change_control, where="changeControl")
        if wrong:
            raise errors.Invalid(wrong[0].message, field=wrong[0].field)
        spec = catalog.EnvironmentSpec(
            name=body.name,
            enforcement=body.enforcement,
            requires_approval=body.requires_approval,
            change_control=control,
        )
        outcome = catalog.put_environment(
            context.database,
            spec,
            actor=principal.actor,
            now=context.clock(),
            must_be_new=new,
            keep_change_control=body.change_control is None,  # a PUT without it keeps the stored one
        )
        return {"name": body.name, "outcome": outcome}

    @router.post("/environments", status_code=201, tags=["catalog"], responses=problems.responses(409))
    def create_environment(
        body: schemas.EnvironmentIn, context: ContextDep, principal: PrincipalDep
    ) -> dict[str, str]:
        """Create an environment (platform-admin)."""
        return put_environment(body, context, principal, new=True)

    @router.put("/environments/{name}", tags=["catalog"])
    def update_environment(
        name: str, body: schemas.EnvironmentIn, context: ContextDep, principal: PrincipalDep
    ) -> dict[str, str]:
        """Create or update an environment (platform-admin). A body without ``changeControl`` keeps the
        environment's current change control; send it to change it."""
        _same_name(name, body.name)
        return put_environment(body, context, principal, new=False)


def _same_name(path_name: str, body_name: str) -> None:
    if path_name != body_name:
        raise errors.Invalid(f"the body names {body_name!r}, the path {path_name!r}", field="name")


def _audit_routes(router: APIRouter) -> None:
    @router.get("/audit", response_model=schemas.AuditPage, tags=["audit"])
    def audit_records(
        context: ContextDep,
        principal: PrincipalDep,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
        cursor: Annotated[str | None, Query(max_length=100)] = None,
    ) -> dict[str, Any]:
        """The audit chain, oldest first (platform-admin); page with ``cursor`` (the ``next`` of the
        previous page) or, without one, ``offset``."""
        authorise(context, principal, "audit.read", authorising.AUDIT)
        after = cursors.after("audit", cursor, offset=offset)
        with context.database.reading() as session:
            total, rows = auditrecords.audit_page(session, limit=limit + 1, offset=offset, after=after)
            items = [auditing.render_record(row) for row in rows[:limit]]
        following = cursors.encode("audit", items[-1]["seq"]) if len(rows) > limit else None
        return {"total": total, "limit": limit, "offset": offset, "next": following, "items": items}

    @router.get("/audit/verify", tags=["audit"])
    def audit_verify(context: ContextDep, principal: PrincipalDep, full: bool = False) -> dict[str, Any]:
        """Check the keyed chain, its leaves and the signed checkpoint; ``ok`` is false with ``problems``
        (stable ``code``, ``seq``, ``detail``) when anything was tampered with. Incremental from the last
        verified head unless ``full`` (platform-admin)."""
        authorise(context, principal, "audit.verify", authorising.AUDIT)
        return auditverifying.verify_database(context.database, full=full).as_dict()

    @router.get("/audit/{seq}/leaves/{idx}", tags=["audit"], responses=problems.responses(404))
    def audit_leaf(
        context: ContextDep,
        principal: PrincipalDep,
        seq: Annotated[int, Path(ge=1, le=MAX_INT)],
        idx: Annotated[int, Path(ge=0, le=MAX_INT)],
    ) -> dict[str, Any]:
        """A transition of an audit record with its audit path to the record's root (platform-admin)."""
        authorise(context, principal, "audit.read", authorising.AUDIT)
        with context.database.reading() as session:
            proven = auditing.prove(session, seq, idx)
        return {"leaf": proven.leaf, "proof": proven.proof.as_dict(), "merkleRoot": proven.root}
