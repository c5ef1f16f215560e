"""Editing a change in the portal: its author changes the title and the manifests (a new diff, so earlier
approvals stop counting) or names an approved waiver for a pre-flight that blocks.

Both go through ``delivery.proposing.edit_change`` after the ``authorising`` question of
``POST /api/v1/changes/{id}/edit`` (``change.edit``, the author only); ``changepages`` shows the forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from leitplanke.delivery import changes, gitrepos, proposing
from leitplanke.governance import access, authorising, errors, waivers
from leitplanke.service import routes
from leitplanke.service.contexts import Context
from leitplanke.service.portal import forms, pages, responding, sessions
from leitplanke.store import repositories

# manifests are posted whole: more than a form's usual bound (proposing's own limit still applies)
MAX_EDIT_BYTES = 1024 * 1024
MAX_ID = 2_147_483_647  # the largest id a form may name (a 32-bit key)


def author_may(principal: access.Principal, view: changes.ChangeView, event: str) -> bool:
    """Whether ``principal`` may ``event`` (edit, submit, cancel) ``view`` now: the step exists from its
    status, the API's rule allows it, and they wrote it (``changes.transition`` and ``edit_change``
    refuse anyone else, platform-admins included)."""
    if (view.status, event) not in changes.TRANSITIONS or view.author_subject != principal.subject:
        return False
    resource = authorising.for_change(view.id, view.team, author=view.author_subject)
    return authorising.authorise(principal, f"change.{event}", resource).allowed


def eligible_waivers(context: Context, *, app: str, env: str, now: datetime) -> list[waivers.WaiverView]:
    """The waivers a change of ``app`` in ``env`` may name: approved and not expired."""
    where = repositories.WaiverFilter(app=app, env=env, status=waivers.APPROVED)
    return [w for w in waivers.list_waivers(context.database, where) if w.expires > now]


def waiver_request_url(*, app: str, env: str, result: dict[str, Any]) -> str:
    """The waiver request form, prefilled for a failing pre-flight ``result`` of ``app`` in ``env``."""
    resource = result.get("resource")
    parts = resource if isinstance(resource, dict) else {}
    query = {
        "app": app,
        "env": env,
        "policy": str(result.get("policy", "")),
        "rule": str(result.get("rule", "")),
        "kind": str(parts.get("kind", "")),
        "namespace": str(parts.get("namespace", "")),
        "name": str(parts.get("name", "")),
    }
    return "/portal/waivers/new?" + urlencode({k: v for k, v in query.items() if v})


def chosen_waiver(context: Context, text: str, *, app: str, env: str) -> int | None:
    """The waiver a form names (``parse_waiver``): one of the ``eligible_waivers`` of ``app`` in
    ``env``, or none."""
    waiver = parse_waiver(text)
    if waiver is not None and waiver not in {
        w.id for w in eligible_waivers(context, app=app, env=env, now=context.clock())
    }:
        raise errors.Invalid(
            f"waiver {waiver} is not an approved, unexpired waiver of {app} in {env}", field="waiver"
        )
    return waiver


def parse_waiver(text: str) -> int | None:
    """The form's waiver: empty for none, else a waiver's id."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise errors.Invalid("choose a waiver from the list", field="waiver")
    return int(text)


def add_routes(router: APIRouter) -> None:
    @router.get("/changes/{change_id}/edit")
    def edit_page(request: Request, change_id: pages.ItemId) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        view = editable(context, visitor.principal, change_id)
        values = {"title": view.title, "manifests": view.manifests, "waiver": str(view.waiver or "")}
        return _form(request, visitor, view, values=values, problem=None, status=200)

    @router.post("/changes/{change_id}/edit")
    async def edit(request: Request, change_id: pages.ItemId) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        # who may edit is known before the body is read: only the author's posts are read, up to 1 MiB
        view = editable(context, visitor.principal, change_id)
        form = await forms.read_form(request, limit=MAX_EDIT_BYTES)
        forms.check_csrf(form, visitor.csrf)
        values = {key: form.get(key) for key in ("title", "manifests", "waiver")}
        try:
            _save(request, context, visitor.principal, view, values=values, title=values["title"])
        except (errors.Invalid, errors.NotFound, errors.Conflict) as refused:
            return _form(request, visitor, view, values=values, problem=refused, status=422)
        return RedirectResponse(f"/portal/changes/{change_id}", 303)

    @router.post("/changes/{change_id}/waiver")
    async def name_waiver(request: Request, change_id: pages.ItemId) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        view = editable(context, visitor.principal, change_id)
        form = await forms.read_form(request)
        forms.check_csrf(form, visitor.csrf)
        values = {"manifests": view.manifests, "waiver": form.get("waiver")}
        _save(request, context, visitor.principal, view, values=values, title=None)
        return RedirectResponse(f"/portal/changes/{change_id}", 303)


def editable(context: Context, principal: access.Principal, change_id: int) -> changes.ChangeView:
    """The change, once ``principal`` may edit it (the API's rule, then the author only)."""
    view = changes.get_change(context.database, change_id, now=context.clock())
    resource = authorising.for_change(view.id, view.team, author=view.author_subject)
    routes.authorise(context, principal, "change.edit", resource)
    if view.author_subject != principal.subject:
        raise errors.Forbidden(f"only the author of change {change_id} edits it")
    return view


def _save(
    request: Request,
    context: Context,
    principal: access.Principal,
    view: changes.ChangeView,
    *,
    values: dict[str, str],
    title: str | None,
) -> changes.ChangeView:
    """``edit_change`` with the posted values; a waiver must be one of the eligible ones."""
    now = context.clock()
    waiver = chosen_waiver(context, values["waiver"], app=view.app, env=view.env)
    author = proposing.Author(actor=principal.actor, subject=principal.subject)
    try:
        return proposing.edit_change(
            context.database,
            request.app.state.changes.tools(),
            view.id,
            manifests=values["manifests"].replace("\r\n", "\n"),
            waiver=waiver,
            author=author,
            now=now,
            title=title,
        )
    except gitrepos.GitError as failed:
        raise errors.Conflict(
            f"the environment's Git repository could not be read or written ({failed.code})"
        ) from failed


def _form(
    request: Request,
    visitor: sessions.Visitor,
    view: changes.ChangeView,
    *,
    values: dict[str, str],
    problem: errors.GovernanceError | None,
    status: int,
) -> Response:
    context = sessions.context_of(request)
    field = problem.field if problem is not None and problem.field in values else ""
    return responding.page(
        request,
        "change_edit.html",
        status=status,
        change=view,
        values=values,
        problem=str(problem) if problem is not None else "",
        problem_field=field,
        waivers=eligible_waivers(context, app=view.app, env=view.env, now=context.clock()),
        counting=sum(a.counts for a in view.approvals),
        **pages.chrome(visitor),
    )
