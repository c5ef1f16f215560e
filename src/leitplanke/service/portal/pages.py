"""The reading pages: team home and app (with recent changes; drift on the app's), findings (htmx
partials for filters and pages) and finding detail. Each parses, asks ``authorising`` (through
``routes.authorise``, as the API does) and renders; who may see what is decided there, never here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from leitplanke import catalog
from leitplanke.delivery import changes, deliveryviews, drift
from leitplanke.governance import access, authorising, errors, findingviews, postures, waivers
from leitplanke.service import routes
from leitplanke.service.contexts import Context
from leitplanke.service.portal import responding, sessions
from leitplanke.store import changerecords, deliveries, repositories

PAGE_SIZE = 25
PageNo = Annotated[int, Query(ge=1, le=100_000)]
Severity = Literal["", "critical", "high", "medium", "low", "info"]
Status = Literal["", "new", "open", "fixed", "reopened", "waived"]
Name = Annotated[str, Query(max_length=100)]
ItemId = Annotated[int, Path(ge=1, le=2_147_483_647)]


def chrome(visitor: sessions.Visitor) -> dict[str, Any]:
    """What every page's frame shows: who is signed in, and the token for its sign-out form."""
    return {"principal": visitor.principal, "csrf": visitor.csrf}


def pager(*, total: int, page: int, size: int = PAGE_SIZE) -> dict[str, Any]:
    last = max(1, -(-total // size))
    return {
        "total": total,
        "page": page,
        "last": last,
        "first_item": (page - 1) * size + 1 if total else 0,
        "last_item": min(page * size, total),
    }


def listing(
    found: Sequence[Any], *, page: int, filters: dict[str, Any], base: str, size: int = PAGE_SIZE
) -> dict[str, Any]:
    """One page of a list held whole (waivers, policies): its items, filters, pager and address."""
    return {
        "items": found[(page - 1) * size : page * size],
        "filters": filters,
        "pager": pager(total=len(found), page=page, size=size),
        "base": base,
    }


def _owner(context: Context, app: str) -> str:
    owner = catalog.owner_of(context.database, app)
    if owner is None:
        raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
    return owner


def add_routes(router: APIRouter) -> None:
    @router.get("/")
    def home(request: Request) -> Response:
        visitor = sessions.signed_in(request)
        principal = visitor.principal
        if principal.team is not None:
            return RedirectResponse(f"/portal/teams/{quote(principal.team, safe='')}", 303)
        context = sessions.context_of(request)
        routes.authorise(context, principal, "catalog.read", authorising.CATALOG)
        teams = catalog.snapshot(context.database)["teams"]
        return responding.page(request, "teams.html", teams=teams, **chrome(visitor))

    @router.get("/teams/{team}")
    def team_home(request: Request, team: Annotated[str, Path(max_length=100)]) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        routes.authorise(context, visitor.principal, "findings.read", authorising.for_team(team))
        routes.authorise(context, visitor.principal, "waivers.figures", authorising.for_team(team))
        snapshot = catalog.snapshot(context.database)
        if not any(t["name"] == team for t in snapshot["teams"]):
            raise errors.NotFound(f"no team {team!r}", field="team")
        now = context.clock()
        posture = postures.build_posture(context.database, team=team, now=now)
        apps = [a for a in snapshot["apps"] if a["owner"] == team]
        waiting = waivers.list_waivers(
            context.database, repositories.WaiverFilter(team=team, status=waivers.REQUESTED)
        )
        return responding.page(
            request,
            "team.html",
            recent_changes=recent_changes(context, visitor.principal, team=team),
            dora=dora_facts(context, visitor.principal, team=team),
            team=team,
            posture=posture,
            apps=apps,
            waiting=waiting[:10],
            waiting_total=len(waiting),
            **chrome(visitor),
        )

    @router.get("/apps/{app}")
    def app_page(
        request: Request,
        app: Annotated[str, Path(max_length=100)],
        env: Name = "",
        severity: Severity = "",
        status: Status = "",
        page: PageNo = 1,
        history: PageNo = 1,
    ) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        owner = _owner(context, app)
        routes.authorise(context, visitor.principal, "findings.read", authorising.for_app(app, owner))
        routes.authorise(context, visitor.principal, "waivers.read", authorising.for_app(app, owner))
        filters = {"env": env, "severity": severity, "status": status}
        listing = _findings(context, app=app, filters=filters, page=page, team_ids=None)
        if responding.is_partial(request):
            return responding.page(
                request, "partials/findings.html", **listing, base=f"/portal/apps/{app}", **chrome(visitor)
            )
        now = context.clock()
        posture = postures.build_posture(context.database, team=owner, app=app, now=now)
        scan_total, scans = postures.page_scans(
            context.database, app=app, limit=10, offset=(history - 1) * 10
        )
        app_waivers = waivers.list_waivers(context.database, repositories.WaiverFilter(app=app))
        return responding.page(
            request,
            "app.html",
            app=app,
            owner=owner,
            posture=posture,
            **listing,
            base=f"/portal/apps/{app}",
            scans=scans,
            scan_pager=pager(total=scan_total, page=history, size=10),
            app_waivers=list(reversed(app_waivers))[:20],
            recent_changes=recent_changes(context, visitor.principal, app=app),
            drift=_drift(context, app=app),
            **chrome(visitor),
        )

    @router.get("/findings")
    def findings(
        request: Request,
        app: Name = "",
        env: Name = "",
        severity: Severity = "",
        status: Status = "",
        policy: Annotated[str, Query(max_length=200)] = "",
        overdue: bool = False,
        page: PageNo = 1,
    ) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        principal = visitor.principal
        routes.check_scope(context, principal, "findings.read", team=None, app=app or None)
        filters = {
            "app": app,
            "env": env,
            "severity": severity,
            "status": status,
            "policy": policy,
            "overdue": overdue,
        }
        listing = _findings(
            context, app=app, filters=filters, page=page, team_ids=principal.visible_team_ids()
        )
        template = "partials/findings.html" if responding.is_partial(request) else "findings.html"
        return responding.page(request, template, **listing, base="/portal/findings", **chrome(visitor))

    @router.get("/findings/{finding_id}")
    def finding(request: Request, finding_id: ItemId) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        now = context.clock()
        view = postures.get_finding(context.database, finding_id, now=now)
        routes.authorise(
            context, visitor.principal, "findings.read", authorising.for_app(view.app, view.team)
        )
        entry = responding.portal_of(request).policies.by_id(view.policy, now=now)
        covering = [
            w
            for w in waivers.list_waivers(
                context.database, repositories.WaiverFilter(app=view.app, env=view.env)
            )
            if view.policy in w.policies
            and any(
                r["kind"] == view.resource["kind"]
                and r["name"] == view.resource["name"]
                and r["namespace"] == view.resource["namespace"]
                for r in w.resources
            )
        ]
        return responding.page(
            request, "finding.html", finding=view, entry=entry, covering=covering, **chrome(visitor)
        )


def recent_changes(
    context: Context, principal: access.Principal, *, team: str | None = None, app: str | None = None
) -> list[changes.ChangeView]:
    """The ten newest changes of a team or an app (within what ``principal`` may see)."""
    where = changerecords.ChangeFilter(
        app=app, team=team, team_ids=principal.visible_team_ids(), limit=10, newest_first=True
    )
    return changes.list_changes(context.database, where, now=context.clock())


def _drift(context: Context, *, app: str) -> list[findingviews.FindingView]:
    """The app's open drift findings (policy ``drift.<kind>``), the newest 20."""
    where = repositories.FindingFilter(app=app, policy_prefix=drift.POLICY_PREFIX)
    found = findingviews.page_findings(context.database, where, limit=50, offset=0, now=context.clock())
    return [f for f in found.items if f.status in repositories.OPEN_STATUSES][:20]


def _findings(
    context: Context, *, app: str, filters: dict[str, Any], page: int, team_ids: frozenset[int] | None
) -> dict[str, Any]:
    now = context.clock()
    where = repositories.FindingFilter(
        app=app or None,
        env=filters.get("env") or None,
        severity=filters.get("severity") or None,
        status=filters.get("status") or None,
        policy=filters.get("policy") or None,
        overdue_at=now if filters.get("overdue") else None,
        team_ids=team_ids,
    )
    found: findingviews.FindingsPage = findingviews.page_findings(
        context.database, where, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, now=now
    )
    return {"items": found.items, "filters": filters, "pager": pager(total=found.total, page=page)}


DORA_DAYS = 30


def dora_facts(context: Context, principal: access.Principal, *, team: str) -> list[tuple[str, str]]:
    """The team's DORA figures of the last 30 days in production, each with its band, as the API and
    ``leitplanke dora`` compute them; none while the team has no deployment there."""
    routes.authorise(context, principal, "dora.read", authorising.for_team(team))
    report = deliveryviews.dora_report(
        context.database,
        deliveries.Scope(team=team),
        now=context.clock(),
        days=DORA_DAYS,
        env=context.settings.dora_environment,
        weekly=False,
    )
    figures = report.figures
    if not figures.deployments:
        return []
    bands = figures.bands
    rate = figures.change_failure_rate

    def banded(text: str, band: str | None) -> str:
        return f"{text} ({band})" if band else text

    return [
        ("Period", f"last {DORA_DAYS} days in {report.env}"),
        (
            "Deployment frequency",
            banded(
                f"{figures.deployments_per_day:.2f}/day, {figures.deployments} deployments",
                bands["deploymentFrequency"],
            ),
        ),
        (
            "Lead time for changes",
            banded(deliveryviews.duration(figures.lead_time_seconds), bands["leadTime"]),
        ),
        ("Change failure rate", banded("—" if rate is None else f"{rate:.1%}", bands["changeFailureRate"])),
        ("Recovery time", banded(deliveryviews.duration(figures.recovery_seconds), bands["recoveryTime"])),
    ]
