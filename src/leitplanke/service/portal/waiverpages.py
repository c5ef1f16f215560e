"""Waiver pages: the list, one waiver with its approve and reject forms, and the request form.

Requests and decisions go through ``governance.waivers`` with the same checks as the API (explicit
scope, justification, expiry within the cap, four eyes); a refused input is shown at its field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import RedirectResponse

from leitplanke import catalog
from leitplanke.governance import authorising, errors, postures, waivers
from leitplanke.service import routes
from leitplanke.service.portal import forms, pages, responding, sessions
from leitplanke.store import repositories

WaiverStatus = Literal["", "requested", "approved", "rejected", "expired"]
Prefill = Annotated[str, Query(max_length=253)]
FIELDS = ("app", "env", "policy", "rule", "kind", "namespace", "name", "justification", "expires")


def add_routes(router: APIRouter) -> None:
    @router.get("/waivers")
    def list_waivers(
        request: Request,
        status: WaiverStatus = "",
        app: pages.Name = "",
        env: pages.Name = "",
        page: pages.PageNo = 1,
    ) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        principal = visitor.principal
        routes.check_scope(context, principal, "waivers.read", team=None, app=app or None)
        where = repositories.WaiverFilter(
            app=app or None, env=env or None, status=status or None, team_ids=principal.visible_team_ids()
        )
        found = list(reversed(waivers.list_waivers(context.database, where)))  # newest first
        filters = {"status": status, "app": app, "env": env}
        listing = pages.listing(found, page=page, filters=filters, base="/portal/waivers")
        template = "partials/waivers.html" if responding.is_partial(request) else "waivers.html"
        return responding.page(request, template, **listing, **pages.chrome(visitor))

    @router.get("/waivers/new")
    def new_waiver(
        request: Request,
        finding: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
        app: Prefill = "",
        env: Prefill = "",
        policy: Prefill = "",
        rule: Prefill = "",
        kind: Prefill = "",
        namespace: Prefill = "",
        name: Prefill = "",
    ) -> Response:
        """The request form, prefilled from a finding, or from the fields given (a blocking pre-flight's
        failure links here); the post checks everything again."""
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        now = context.clock()
        values = {"expires": (now + timedelta(days=30)).strftime("%Y-%m-%d")}
        given = {"app": app, "env": env, "policy": policy, "rule": rule, "kind": kind}
        values.update({**given, "namespace": namespace, "name": name})
        if finding:
            view = postures.get_finding(context.database, finding, now=now)
            routes.authorise(
                context, visitor.principal, "waiver.request", authorising.for_app(view.app, view.team)
            )
            values.update(
                app=view.app,
                env=view.env,
                policy=view.policy,
                rule=view.rule,
                kind=view.resource["kind"],
                namespace=view.resource["namespace"],
                name=view.resource["name"],
            )
        return _form(request, visitor, values=values, problem=None, status=200)

    @router.post("/waivers")
    async def request_waiver(request: Request) -> Response:
        visitor = sessions.signed_in(request)
        form = await forms.read_form(request)
        forms.check_csrf(form, visitor.csrf)
        context = sessions.context_of(request)
        values = {key: form.get(key).strip() for key in FIELDS}
        values["justification"] = form.get("justification")
        try:
            owner = catalog.owner_of(context.database, values["app"])
            if owner is None:
                raise errors.NotFound(f"no application {values['app']!r} in the catalog", field="app")
            routes.authorise(
                context, visitor.principal, "waiver.request", authorising.for_app(values["app"], owner)
            )
            wanted = _request(values)
            view = waivers.request_waiver(
                context.database,
                wanted,
                actor=visitor.principal.actor,
                subject=visitor.principal.subject,
                now=context.clock(),
                max_days=context.settings.max_waiver_days,
            )
        except (errors.Invalid, errors.NotFound) as refused:
            return _form(request, visitor, values=values, problem=refused, status=422)
        return RedirectResponse(f"/portal/waivers/{view.id}", 303)

    @router.get("/waivers/{waiver_id}")
    def waiver(request: Request, waiver_id: pages.ItemId) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        view = waivers.get_waiver(context.database, waiver_id)
        routes.authorise(
            context, visitor.principal, "waiver.read", authorising.for_waiver(view.id, view.team)
        )
        resource = authorising.for_waiver(view.id, view.team, requester=view.requester_subject)
        may_decide = (
            view.status == waivers.REQUESTED
            and authorising.authorise(visitor.principal, "waiver.approve", resource).allowed
        )
        return responding.page(
            request, "waiver.html", waiver=view, may_decide=may_decide, **pages.chrome(visitor)
        )

    @router.post("/waivers/{waiver_id}/{decision}")
    async def decide(
        request: Request, waiver_id: pages.ItemId, decision: Literal["approve", "reject"]
    ) -> Response:
        visitor = sessions.signed_in(request)
        form = await forms.read_form(request)
        forms.check_csrf(form, visitor.csrf)
        context = sessions.context_of(request)
        view = waivers.get_waiver(context.database, waiver_id)
        resource = authorising.for_waiver(view.id, view.team, requester=view.requester_subject)
        routes.authorise(context, visitor.principal, f"waiver.{decision}", resource)
        waivers.decide_waiver(
            context.database,
            waiver_id,
            approve=decision == "approve",
            note=form.get("note")[:4000],
            actor=visitor.principal.actor,
            subject=visitor.principal.subject,
            now=context.clock(),
        )
        return RedirectResponse(f"/portal/waivers/{waiver_id}", 303)


def _request(values: dict[str, str]) -> waivers.WaiverRequest:
    for key, limit in (
        ("app", 100),
        ("env", 100),
        ("policy", 253),
        ("rule", 253),
        ("kind", 253),
        ("namespace", 253),
        ("name", 253),
        ("justification", 4000),
    ):
        if len(values[key]) > limit:
            raise errors.Invalid(f"{key} has at most {limit} characters", field=key)
    if not values["policy"]:
        raise errors.Invalid("a waiver names its policy", field="policy")
    try:
        day = datetime.strptime(values["expires"], "%Y-%m-%d")
    except ValueError as exc:
        raise errors.Invalid("expires is a date: YYYY-MM-DD", field="expires") from exc
    return waivers.WaiverRequest(
        app=values["app"],
        env=values["env"],
        policies=(values["policy"],),
        rules=(values["rule"],) if values["rule"] else (),
        resources=(waivers.ResourceRef(values["kind"], values["name"], values["namespace"]),),
        justification=values["justification"],
        expires=day.replace(hour=23, minute=59, second=59, tzinfo=UTC),
    )


def _form(
    request: Request,
    visitor: sessions.Visitor,
    *,
    values: dict[str, Any],
    problem: errors.GovernanceError | None,
    status: int,
) -> Response:
    context = sessions.context_of(request)
    snapshot = catalog.snapshot(context.database)
    field = _form_field(problem.field) if problem else ""
    values = {key: values.get(key, "") for key in FIELDS}
    return responding.page(
        request,
        "waiver_new.html",
        status=status,
        values=values,
        problem=str(problem) if problem else "",
        problem_field=field,
        environments=[e["name"] for e in snapshot["environments"]],
        max_days=context.settings.max_waiver_days,
        **pages.chrome(visitor),
    )


def _form_field(field: str) -> str:
    """The form's field for a governance field (``resources[0].kind`` is the form's ``kind``)."""
    if field.startswith("resources[0]."):
        return field.removeprefix("resources[0].")
    if field.startswith("policies"):
        return "policy"
    if field.startswith("rules"):
        return "rule"
    return field if field in FIELDS else ""
