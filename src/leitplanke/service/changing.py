"""The change routes under /api/v1/changes: propose, edit, submit, approve, reject, cancel, apply, revert.

Routes parse, ask ``authorising`` whether the caller may (``routes.authorise``; approving is four-eyes)
and call ``delivery``. The pre-flight policies (the default packs) are compiled on first use and the
GitOps working copies live under the data folder (``ChangeTools``, in ``app.state.changes``);
``reconcile_on_start`` finishes applies a crash interrupted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request

from leitplanke import catalog, engine
from leitplanke.delivery import approvals, changes, gitops, gitrepos, proposing
from leitplanke.engine import loading
from leitplanke.governance import access, authorising, errors
from leitplanke.service import changeschemas, problems, routes
from leitplanke.service.contexts import Context
from leitplanke.service.routes import ContextDep, PrincipalDep
from leitplanke.settings import Settings
from leitplanke.store import changerecords

_log = logging.getLogger(__name__)
ChangeId = Annotated[int, Path(ge=1, le=2_147_483_647)]


class ChangeTools:
    """The pre-flight policy set (compiled once, on first use) and the GitOps writer of an app."""

    def __init__(self, *, writer: gitops.Writer, policy_set: engine.PolicySet | None = None) -> None:
        self.writer = writer
        self._policy_set = policy_set
        self._lock = threading.Lock()

    def policies(self) -> engine.PolicySet:
        with self._lock:
            if self._policy_set is None:
                loaded = loading.load_packs(loading.default_packs(), now=datetime.now(UTC))
                self._policy_set = engine.compile(loaded.policies)
            return self._policy_set

    def tools(self) -> proposing.Tools:
        return proposing.Tools(policies=self.policies, writer=self.writer)


def tools_for(settings: Settings) -> ChangeTools:
    return ChangeTools(writer=gitops.Writer(settings.data_dir / "gitops"))


def reconcile_on_start(context: Context, tools: ChangeTools) -> None:
    """Approved changes whose commit reached Git before a crash: recorded as applied (logged,
    never raised)."""
    try:
        done = gitops.reconcile(context.database, tools.writer, now=context.clock())
    except Exception:  # the edge: the service starts even when a repository cannot be reached
        _log.exception("changes could not be reconciled with their GitOps repositories")
        return
    if done:
        _log.warning("changes %s were committed before a restart and are now recorded as applied", done)


async def expire_periodically(context: Context, *, every: float) -> None:
    """Expire approved changes whose approvals lapsed, every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await asyncio.to_thread(approvals.expire_lapsed, context.database, now=context.clock())
        except Exception:  # the edge: a round that fails (database away) must not end the task
            _log.exception("change expiry failed; retrying in %s s", every)


def _out(view: changes.ChangeView) -> changeschemas.ChangeOut:
    return changeschemas.ChangeOut.model_validate(view, from_attributes=True)


def _tools(request: Request) -> ChangeTools:
    found: ChangeTools = request.app.state.changes
    return found


def _author(principal: access.Principal) -> proposing.Author:
    return proposing.Author(actor=principal.actor, subject=principal.subject)


def _owner(context: Context, app: str) -> str:
    owner = catalog.owner_of(context.database, app)
    if owner is None:
        raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
    return owner


def _view(context: Context, principal: access.Principal, change_id: int, action: str) -> changes.ChangeView:
    view = changes.get_change(context.database, change_id, now=context.clock())
    resource = authorising.for_change(view.id, view.team, author=view.author_subject)
    routes.authorise(context, principal, action, resource)
    return view


def _git_problem(exc: gitrepos.GitError) -> Any:
    _log.error("GitOps repository: %s", exc)
    return problems.problem(
        502,
        "GitOps repository failed",
        detail="the environment's Git repository could not be read or written",
        extra={"code": exc.code},
    )


def api_router() -> APIRouter:
    router = APIRouter(tags=["changes"])
    _reading_routes(router)
    _proposing_routes(router)
    _deciding_routes(router)
    return router


def _reading_routes(router: APIRouter) -> None:
    @router.get("/changes", response_model=list[changeschemas.ChangeOut], response_model_by_alias=True)
    def list_changes(
        context: ContextDep,
        principal: PrincipalDep,
        app: str | None = None,
        env: str | None = None,
        team: str | None = None,
        status: changeschemas.Status | None = None,
    ) -> list[changeschemas.ChangeOut]:
        """Changes of the caller's team (all teams for a platform-admin), oldest first (at most 200)."""
        routes.check_scope(context, principal, "changes.read", team=team, app=app)
        where = changerecords.ChangeFilter(
            app=app, env=env, team=team, status=status, team_ids=principal.visible_team_ids()
        )
        return [_out(v) for v in changes.list_changes(context.database, where, now=context.clock())]

    @router.get(
        "/changes/{change_id}",
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404),
    )
    def get_change(
        change_id: ChangeId, context: ContextDep, principal: PrincipalDep
    ) -> changeschemas.ChangeOut:
        return _out(_view(context, principal, change_id, "change.read"))


def _proposing_routes(router: APIRouter) -> None:
    @router.post(
        "/changes",
        status_code=201,
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409, 502),
    )
    def create(
        body: changeschemas.ChangeIn, request: Request, context: ContextDep, principal: PrincipalDep
    ) -> Any:
        """Propose a change of an app's manifests in an env (developer of the owning team): its diff
        against the env's GitOps repository and the pre-flight check are recorded."""
        owner = _owner(context, body.app)
        routes.authorise(context, principal, "change.create", authorising.for_app(body.app, owner))
        proposal = proposing.Proposal(
            app=body.app, env=body.env, title=body.title, manifests=body.manifests, waiver=body.waiver
        )
        try:
            view = proposing.create_change(
                context.database,
                _tools(request).tools(),
                proposal,
                author=_author(principal),
                now=context.clock(),
            )
        except gitrepos.GitError as exc:
            return _git_problem(exc)
        if body.submit:
            view = changes.transition(
                context.database, view.id, event="submit", actor=principal.actor, now=context.clock()
            )
        return _out(view)

    @router.post(
        "/changes/{change_id}/edit",
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409, 502),
    )
    def edit(
        change_id: ChangeId,
        body: changeschemas.EditIn,
        request: Request,
        context: ContextDep,
        principal: PrincipalDep,
    ) -> Any:
        """New manifests (the author): a new diff, so earlier approvals no longer count."""
        _view(context, principal, change_id, "change.edit")
        try:
            view = proposing.edit_change(
                context.database,
                _tools(request).tools(),
                change_id,
                manifests=body.manifests,
                waiver=body.waiver,
                author=_author(principal),
                now=context.clock(),
            )
        except gitrepos.GitError as exc:
            return _git_problem(exc)
        return _out(view)

    @router.post(
        "/changes/{change_id}/revert",
        status_code=201,
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409, 502),
    )
    def revert(change_id: ChangeId, request: Request, context: ContextDep, principal: PrincipalDep) -> Any:
        """Rollback: a new draft change restoring what the applied change replaced."""
        _view(context, principal, change_id, "change.create")
        try:
            view = proposing.revert_change(
                context.database,
                _tools(request).tools(),
                change_id,
                author=_author(principal),
                now=context.clock(),
            )
        except gitrepos.GitError as exc:
            return _git_problem(exc)
        return _out(view)

    for event in ("submit", "cancel"):
        _author_step(router, event)


def _author_step(router: APIRouter, event: str) -> None:
    @router.post(
        f"/changes/{{change_id}}/{event}",
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409),
        name=event,
    )
    def author_step(
        change_id: ChangeId, context: ContextDep, principal: PrincipalDep
    ) -> changeschemas.ChangeOut:
        _view(context, principal, change_id, f"change.{event}")
        view = changes.transition(
            context.database,
            change_id,
            event=event,
            actor=principal.actor,
            now=context.clock(),
            author_only=principal.subject,
        )
        return _out(view)

    author_step.__doc__ = f"{event.capitalize()} a change (its author)."


def _deciding_routes(router: APIRouter) -> None:
    @router.post(
        "/changes/{change_id}/approve",
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409, 502),
    )
    def approve(change_id: ChangeId, request: Request, context: ContextDep, principal: PrincipalDep) -> Any:
        """Approve a submitted change (an approver of the owning team, or of the second team for the kinds
        it watches; never the author). Approved once the environment's rules are met."""
        now = context.clock()
        view = changes.get_change(context.database, change_id, now=now)
        control = _control(context, view.env)
        team = approvals.counting_team(principal, view, approvals.needed_for(view, control))
        routes.authorise(context, principal, "change.approve", approvals.resource(view, team))
        try:
            diff_hash, blocking = proposing.recheck(context.database, _tools(request).tools(), view, now=now)
        except gitrepos.GitError as exc:
            return _git_problem(exc)
        approver = approvals.Approver(actor=principal.actor, subject=principal.subject, team=team)
        return _out(
            approvals.approve_change(
                context.database,
                change_id,
                approver=approver,
                diff_hash=diff_hash,
                preflight_blocking=blocking,
                now=now,
            )
        )

    @router.post(
        "/changes/{change_id}/reject",
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409),
    )
    def reject(
        change_id: ChangeId, body: changeschemas.NoteIn, context: ContextDep, principal: PrincipalDep
    ) -> changeschemas.ChangeOut:
        """Reject a submitted or approved change (an approver of the owning team; never the author)."""
        _view(context, principal, change_id, "change.reject")
        view = changes.transition(
            context.database,
            change_id,
            event="reject",
            actor=principal.actor,
            now=context.clock(),
            note=body.note,
        )
        return _out(view)

    @router.post(
        "/changes/{change_id}/apply",
        response_model=changeschemas.ChangeOut,
        response_model_by_alias=True,
        responses=problems.responses(404, 409, 502),
    )
    def apply(
        change_id: ChangeId,
        body: changeschemas.ApplyIn,
        request: Request,
        context: ContextDep,
        principal: PrincipalDep,
    ) -> Any:
        """Commit an approved change into the env's GitOps repository; 409 while it waits for a sync
        window (a platform-admin may override, audited)."""
        view = _view(context, principal, change_id, "change.apply")
        if body.override_window:
            resource = authorising.for_environment(view.env)
            routes.authorise(context, principal, "change.override-window", resource)
        applier = gitops.Applier(
            actor=principal.actor, subject=principal.subject, may_override=principal.is_platform_admin
        )
        try:
            applied = gitops.apply_change(
                context.database,
                _tools(request).writer,
                change_id,
                applier=applier,
                override_window=body.override_window,
                now=context.clock(),
            )
        except gitrepos.GitError as exc:
            return _git_problem(exc)
        return _out(applied)


def _control(context: Context, env: str) -> catalog.changecontrols.ChangeControl:
    with context.database.reading() as session:
        return changes.environment_control(session, env)
