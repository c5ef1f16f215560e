"""The routes: parse the request, check the caller's role, call a governance use case, shape the answer.

``health_router`` serves /healthz, /readyz and /metrics without a token; ``api_router`` serves
/api/v1 and needs ``Authorization: Bearer <token>`` on every call.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from leitplanke.governance import access, alerting, auditing, catalog, errors, findings, slas
from leitplanke.service import cursors, schemas
from leitplanke.service.contexts import Context
from leitplanke.service.metrics import CONTENT_TYPE
from leitplanke.store import repositories

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
    context = _context(request)
    principal = (
        None if credentials is None else access.authenticate(context.database, credentials.credentials)
    )
    if principal is None:
        raise HTTPException(401, "A valid API token is required", headers={"WWW-Authenticate": "Bearer"})
    return principal


PrincipalDep = Annotated[access.Principal, Depends(_principal)]


def require(
    context: Context, principal: access.Principal, *, role: str, team: str | None, action: str, target: str
) -> None:
    try:
        access.require(
            context.database,
            principal,
            role=role,
            team=team,
            action=action,
            target=target,
            now=context.clock(),
        )
    except errors.Forbidden:
        context.metrics.denials.inc()
        raise


def health_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """The process answers."""
        return {"status": "ok"}

    @router.get("/readyz", tags=["health"])
    def readyz(context: ContextDep) -> Response:
        """The database answers."""
        if context.database.ping():
            return Response('{"status":"ready"}', media_type="application/json")
        from leitplanke.service.problems import problem

        return problem(503, "Not ready", detail="the database does not answer")

    @router.get("/metrics", tags=["health"])
    def prometheus(context: ContextDep) -> Response:
        """Prometheus metrics of this instance."""
        return Response(context.metrics.render(), media_type=CONTENT_TYPE)

    return router


def api_router() -> APIRouter:
    router = APIRouter()
    _scan_routes(router)
    _finding_routes(router)
    _catalog_routes(router)
    _audit_routes(router)
    return router


def _scan_routes(router: APIRouter) -> None:
    @router.post("/scans", status_code=201, response_model=schemas.Ingested, tags=["findings"])
    def upload_scan(body: schemas.ScanUpload, context: ContextDep, principal: PrincipalDep) -> dict[str, Any]:
        """Ingest a ``leitplanke scan -f json`` report of one app in one environment (developer role)."""
        owner = catalog.owner_of(context.database, body.app)
        if owner is None:
            raise errors.NotFound(f"no application {body.app!r} in the catalog", field="app")
        require(
            context, principal, role="developer", team=owner, action="upload a scan", target=f"app:{body.app}"
        )
        outcome = findings.ingest_scan(
            context.database,
            app=body.app,
            env=body.env,
            results=[item.to_result() for item in body.scan.results],
            summary=body.scan.summary,
            generated_at=body.scan.generated_at,
            actor=principal.actor,
            now=context.clock(),
            sla_days=context.settings.sla_days,
            outbox=alerting.Outbox.of(context.settings.alert_targets, public_url=context.settings.public_url),
        )
        context.metrics.scans.inc()
        for transition, count in outcome.transitions.items():
            context.metrics.transitions.labels(transition).inc(count)
        return outcome.as_dict()


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
        check_scope(context, principal, team=team, app=app, action="read findings")
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
        page = findings.page_findings(
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
        check_scope(context, principal, team=team, app=app, action="read SLA figures")
        return slas.build_figures(
            context.database, now=context.clock(), team=team, app=app, team_ids=principal.visible_team_ids()
        )


def check_scope(
    context: Context, principal: access.Principal, *, team: str | None, app: str | None, action: str
) -> None:
    """A team-bound caller asking for another team's (or another team's app's) data is refused."""
    if principal.is_platform_admin:
        return
    if team is not None:
        require(context, principal, role="viewer", team=team, action=action, target=f"team:{team}")
    if app is not None:
        owner = catalog.owner_of(context.database, app)
        if owner is not None:
            require(context, principal, role="viewer", team=owner, action=action, target=f"app:{app}")
    require(
        context, principal, role="viewer", team=principal.team, action=action, target=f"team:{principal.team}"
    )


def _catalog_routes(router: APIRouter) -> None:
    @router.get("/teams", tags=["catalog"])
    def teams(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        return list(catalog.snapshot(context.database)["teams"])

    @router.get("/apps", tags=["catalog"])
    def apps(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        return list(catalog.snapshot(context.database)["apps"])

    @router.get("/environments", tags=["catalog"])
    def environments(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        return list(catalog.snapshot(context.database)["environments"])

    def put_team(
        body: schemas.TeamIn, context: Context, principal: access.Principal, *, new: bool
    ) -> dict[str, str]:
        require(
            context,
            principal,
            role="admin",
            team=None if new else body.name,
            action="change a team",
            target=f"team:{body.name}",
        )
        spec = catalog.TeamSpec(name=body.name, title=body.title)
        outcome = catalog.put_team(
            context.database, spec, actor=principal.actor, now=context.clock(), must_be_new=new
        )
        return {"name": body.name, "outcome": outcome}

    @router.post("/teams", status_code=201, tags=["catalog"])
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
        for team in {body.owner, current or body.owner}:
            require(
                context, principal, role="admin", team=team, action="change an app", target=f"app:{body.name}"
            )
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

    @router.post("/apps", status_code=201, tags=["catalog"])
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
        require(
            context,
            principal,
            role="admin",
            team=None,
            action="change an environment",
            target=f"environment:{body.name}",
        )
        spec = catalog.EnvironmentSpec(
            name=body.name, enforcement=body.enforcement, requires_approval=body.requires_approval
        )
        outcome = catalog.put_environment(
            context.database, spec, actor=principal.actor, now=context.clock(), must_be_new=new
        )
        return {"name": body.name, "outcome": outcome}

    @router.post("/environments", status_code=201, tags=["catalog"])
    def create_environment(
        body: schemas.EnvironmentIn, context: ContextDep, principal: PrincipalDep
    ) -> dict[str, str]:
        """Create an environment (platform-admin)."""
        return put_environment(body, context, principal, new=True)

    @router.put("/environments/{name}", tags=["catalog"])
    def update_environment(
        name: str, body: schemas.EnvironmentIn, context: ContextDep, principal: PrincipalDep
    ) -> dict[str, str]:
        """Create or update an environment (platform-admin)."""
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
        require(context, principal, role="admin", team=None, action="read the audit log", target="audit")
        after = cursors.after("audit", cursor, offset=offset)
        with context.database.reading() as session:
            total, rows = repositories.audit_page(session, limit=limit + 1, offset=offset, after=after)
            items = [auditing.render_record(row) for row in rows[:limit]]
        following = cursors.encode("audit", items[-1]["seq"]) if len(rows) > limit else None
        return {"total": total, "limit": limit, "offset": offset, "next": following, "items": items}

    @router.get("/audit/verify", tags=["audit"])
    def audit_verify(context: ContextDep, principal: PrincipalDep) -> dict[str, Any]:
        """Check the whole chain; ``firstBadSeq`` names the first record that breaks it (platform-admin)."""
        require(context, principal, role="admin", team=None, action="verify the audit log", target="audit")
        outcome = auditing.verify_database(context.database)
        return {"records": outcome.records, "firstBadSeq": outcome.first_bad_seq, "head": outcome.head}
