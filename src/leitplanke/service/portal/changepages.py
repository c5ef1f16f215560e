"""Change pages: the approvals inbox, one change followed to delivery, its approve, reject and apply
forms, and its author's submit, cancel, edit and waiver forms (``changeediting``).

Every decision goes through the use cases the change API calls (``delivery.approvals``, ``changes``,
``gitops``) after the same ``authorising`` question (approving is four-eyes; submitting and cancelling
are the author's); a refusal is shown as a page.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from leitplanke.catalog import changecontrols
from leitplanke.delivery import approvals, changes, gitops, gitrepos, proposing
from leitplanke.governance import access, authorising, errors
from leitplanke.service import routes
from leitplanke.service.contexts import Context
from leitplanke.service.portal import changeediting, forms, pages, responding, sessions
from leitplanke.store import changerecords

# the inbox shows fewer changes a page than lists do, each diff cut at a screenful or two: a diff of a
# whole new app is hundreds of lines, and 25 of them made a page of a megabyte (the bench's inbox)
INBOX_SIZE = 10
INBOX_DIFF_LINES = 120


def may_approve(context: Context, principal: access.Principal, view: changes.ChangeView) -> bool:
    """Whether ``principal`` may approve ``view`` now: submitted, allowed as the API allows, and not
    approved by them already for its current diff."""
    if view.status != changes.SUBMITTED:
        return False
    with context.database.reading() as session:
        control = changes.environment_control(session, view.env)
    return _may_approve_under(principal, view, control)


def _may_approve_under(
    principal: access.Principal, view: changes.ChangeView, control: changecontrols.ChangeControl
) -> bool:
    """``may_approve`` with the change control of the change's environment given."""
    if view.status != changes.SUBMITTED:
        return False
    team = approvals.counting_team(principal, view, approvals.needed_for(view, control))
    if not authorising.authorise(principal, "change.approve", approvals.resource(view, team)).allowed:
        return False
    return not any(a.approver_subject == principal.subject and a.counts for a in view.approvals)


def _waiting_for(context: Context, principal: access.Principal) -> list[changes.ChangeView]:
    """The submitted changes of the principal's teams they may approve now, oldest first; each
    environment's change control read once."""
    where = changerecords.ChangeFilter(status=changes.SUBMITTED, team_ids=principal.visible_team_ids())
    submitted = changes.list_changes(context.database, where, now=context.clock())
    with context.database.reading() as session:
        controls = {env: changes.environment_control(session, env) for env in {v.env for v in submitted}}
    return [v for v in submitted if _may_approve_under(principal, v, controls[v.env])]


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """A unified diff's lines, each with its kind: add, remove, hunk, file or same."""
    kinds = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            kind = "file"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "remove"
        else:
            kind = "same"
        kinds.append((kind, line))
    return kinds


def add_routes(router: APIRouter) -> None:
    @router.get("/changes")
    def inbox(request: Request, page: pages.PageNo = 1) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        principal = visitor.principal
        routes.check_scope(context, principal, "changes.read", team=None, app=None)
        waiting = _waiting_for(context, principal)
        listing = pages.listing(waiting, page=page, filters={}, base="/portal/changes", size=INBOX_SIZE)
        diffs = {v.id: diff_lines(v.diff) for v in listing["items"]}
        return responding.page(
            request,
            "inbox.html",
            **listing,
            diffs={key: lines[:INBOX_DIFF_LINES] for key, lines in diffs.items()},
            cut={key: max(0, len(lines) - INBOX_DIFF_LINES) for key, lines in diffs.items()},
            **pages.chrome(visitor),
        )

    @router.get("/changes/{change_id}")
    def change_page(request: Request, change_id: pages.ItemId) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        view = changes.get_change(context.database, change_id, now=context.clock())
        resource = authorising.for_change(view.id, view.team, author=view.author_subject)
        routes.authorise(context, visitor.principal, "change.read", resource)
        may_apply = (
            view.status == changes.APPROVED
            and authorising.authorise(visitor.principal, "change.apply", resource).allowed
        )
        return responding.page(
            request,
            "change.html",
            change=view,
            diff=diff_lines(view.diff),
            may_decide=may_approve(context, visitor.principal, view),
            may_apply=may_apply,
            **_author_forms(context, visitor.principal, view),
            **pages.chrome(visitor),
        )

    @router.post("/changes/{change_id}/{decision}")
    async def decide(
        request: Request,
        change_id: pages.ItemId,
        decision: Literal["approve", "reject", "apply", "submit", "cancel"],
    ) -> Response:
        visitor = sessions.signed_in(request)
        form = await forms.read_form(request)
        forms.check_csrf(form, visitor.csrf)
        context = sessions.context_of(request)
        try:
            _decide(request, context, visitor.principal, change_id, decision, note=form.get("note")[:4000])
        except gitrepos.GitError as failed:
            raise errors.Conflict(
                f"the environment's Git repository could not be read or written ({failed.code})"
            ) from failed
        return RedirectResponse(f"/portal/changes/{change_id}", 303)


def _decide(
    request: Request,
    context: Context,
    principal: access.Principal,
    change_id: int,
    decision: str,
    *,
    note: str,
) -> Any:
    now = context.clock()
    view = changes.get_change(context.database, change_id, now=now)
    tools: Any = request.app.state.changes
    if decision == "approve":
        with context.database.reading() as session:
            control = changes.environment_control(session, view.env)
        team = approvals.counting_team(principal, view, approvals.needed_for(view, control))
        routes.authorise(context, principal, "change.approve", approvals.resource(view, team))
        diff_hash, blocking = proposing.recheck(context.database, tools.tools(), view, now=now)
        approver = approvals.Approver(actor=principal.actor, subject=principal.subject, team=team)
        return approvals.approve_change(
            context.database,
            change_id,
            approver=approver,
            diff_hash=diff_hash,
            preflight_blocking=blocking,
            now=now,
        )
    resource = authorising.for_change(view.id, view.team, author=view.author_subject)
    routes.authorise(context, principal, f"change.{decision}", resource)
    if decision in ("submit", "cancel"):  # the author's steps, as the API's ``author_step``
        return changes.transition(
            context.database,
            change_id,
            event=decision,
            actor=principal.actor,
            now=now,
            author_only=principal.subject,
        )
    if decision == "reject":
        return changes.transition(
            context.database, change_id, event="reject", actor=principal.actor, now=now, note=note
        )
    applier = gitops.Applier(actor=principal.actor, subject=principal.subject, may_override=False)
    return gitops.apply_change(
        context.database, tools.writer, change_id, applier=applier, override_window=False, now=now
    )


def _author_forms(context: Context, principal: access.Principal, view: changes.ChangeView) -> dict[str, Any]:
    """What the change page offers its author (edit, submit, cancel, a waiver for a blocking pre-flight)
    and, to whoever may request a waiver of the app, the waiver request form for each blocking failure."""
    may_edit = changeediting.author_may(principal, view, "edit")
    blocking = view.preflight_blocking
    owner = authorising.for_app(view.app, view.team)
    may_request = blocking and authorising.authorise(principal, "waiver.request", owner).allowed
    results = view.preflight.get("results", [])
    now = context.clock()
    return {
        "may_edit": may_edit,
        "may_submit": changeediting.author_may(principal, view, "submit"),
        "may_cancel": changeediting.author_may(principal, view, "cancel"),
        "eligible": changeediting.eligible_waivers(context, app=view.app, env=view.env, now=now)
        if may_edit and blocking
        else [],
        # one per pre-flight result, in its order: a link for each failure, "" for the rest
        "waiver_links": [
            changeediting.waiver_request_url(app=view.app, env=view.env, result=r)
            if r.get("verdict") == "fail"
            else ""
            for r in results
        ]
        if may_request
        else [],
    }
