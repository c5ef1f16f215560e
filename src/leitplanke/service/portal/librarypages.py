"""The service library pages: the templates, one template's docs and form, its check and its submission.

A posted form is read into values (``schemaforms``), checked and rendered by ``catalog.scaffolding``
with the target environment's mode (as the API renders); "Submit as change request" registers a new
app (``catalog_entry``, ``put_app``) and proposes and submits the change through ``delivery.proposing``.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse

from leitplanke import catalog
from leitplanke.catalog import parametervalidating, scaffolding, templatelibrary
from leitplanke.catalog.parametervalidating import ParameterError
from leitplanke.delivery import changes, gitrepos, proposing
from leitplanke.governance import authorising, errors
from leitplanke.service import routes
from leitplanke.service.portal import changeediting, forms, pages, responding, schemaforms, sessions
from leitplanke.store import repositories

TemplateName = Annotated[str, Path(max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")]
TARGET = ("app", "team", "environment", "namespace", "valueStream", "title")
ChangeQuery = Annotated[int, Query(ge=0, le=2_147_483_647)]


def add_routes(router: APIRouter) -> None:
    @router.get("/library")
    def library(request: Request) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        routes.authorise(context, visitor.principal, "catalog.read", authorising.CATALOG)
        templates = responding.portal_of(request).templates.get().listing()
        return responding.page(request, "library.html", templates=templates, **pages.chrome(visitor))

    @router.get("/library/{name}")
    def template_page(request: Request, name: TemplateName, change: ChangeQuery = 0) -> Response:
        """The template's form; ``change``: its author edits that change, made from this template, with
        its recorded parameters filled in."""
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        routes.authorise(context, visitor.principal, "catalog.read", authorising.CATALOG)
        template = _template(request, name)
        target = {key: "" for key in TARGET}
        target["team"] = visitor.principal.team or ""
        editing, values = None, None
        if change:
            editing = _editing(context, visitor, change, template=template.name)
            source = editing.source or {}
            target.update(_fixed(editing), title=editing.title)
            target.update(
                namespace=str(source.get("namespace", "")), valueStream=str(source.get("valueStream", ""))
            )
            values = parametervalidating.with_defaults(template.parameters, dict(source.get("values") or {}))
        return _page(
            request,
            visitor,
            template,
            target=target,
            texts={},
            result=None,
            problems=[],
            editing=editing,
            values=values,
        )

    @router.post("/library/{name}")
    async def check_or_submit(request: Request, name: TemplateName) -> Response:
        visitor = sessions.signed_in(request)
        form = await forms.read_form(request)
        forms.check_csrf(form, visitor.csrf)
        context = sessions.context_of(request)
        template = _template(request, name)
        target = {key: form.get(key).strip()[:200] for key in TARGET}
        editing = None
        if form.get("change"):
            editing = _editing(context, visitor, _change_id(form.get("change")), template=template.name)
            target.update(_fixed(editing))  # an edit keeps the change's app, team and environment
        routes.authorise(context, visitor.principal, "template.render", authorising.for_team(target["team"]))
        texts = schemaforms.texts_of(template.parameters, form)
        values, problems = schemaforms.values_of(template.parameters, texts)
        result = None
        try:
            result = _scaffold(request, template, values=values, target=target)
            problems.extend(result.errors)
            if form.get("action") == "submit" and not problems and editing is None:
                waiver = changeediting.chosen_waiver(
                    context, form.get("waiver"), app=result.target.app, env=result.target.environment
                )
                change_id = _submit(request, visitor, result, title=target["title"], waiver=waiver)
                return _redirect(request, f"/portal/changes/{change_id}")
            if form.get("action") == "edit" and not problems and editing is not None:
                waiver = changeediting.chosen_waiver(
                    context, form.get("waiver"), app=result.target.app, env=result.target.environment
                )
                _edit(request, visitor, editing, result, title=target["title"], waiver=waiver)
                return _redirect(request, f"/portal/changes/{editing.id}")
        except (errors.Invalid, errors.NotFound, errors.Conflict) as refused:
            problems.append(ParameterError(refused.field or "$", refused.code, str(refused)))
        except gitrepos.GitError as failed:
            message = f"the environment's Git repository could not be read or written ({failed.code})"
            problems.append(ParameterError("$", "gitops", message))
        # a whole page is 422 when a value is wrong; an htmx partial is 200, or htmx would not swap it in
        status = 422 if problems and not responding.is_partial(request) else 200
        return _page(
            request,
            visitor,
            template,
            target=target,
            texts=texts,
            result=result,
            problems=problems,
            status=status,
            chosen=form.get("waiver"),
            editing=editing,
        )


def _change_id(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= changeediting.MAX_ID:
        raise errors.Invalid("the form names no change", field="change")
    return int(text)


def _editing(context: Any, visitor: sessions.Visitor, change_id: int, *, template: str) -> changes.ChangeView:
    """The change its author edits in ``template``'s form: refused unless it was made from it."""
    view = changeediting.editable(context, visitor.principal, change_id)
    if view.source is None or view.source.get("template") != template:
        raise errors.Conflict(
            f"change {change_id} was not made from the template {template} (or was edited by hand since)",
            field="change",
        )
    return view


def _fixed(view: changes.ChangeView) -> dict[str, str]:
    """What an edit keeps of its change's target: the app, its team and the environment."""
    return {"app": view.app, "team": view.team, "environment": view.env}


def source_of(result: scaffolding.Scaffold) -> dict[str, Any]:
    """What a change records of the template form it came from (``proposing.Proposal.source``)."""
    target = result.target
    return {
        "template": result.template,
        "values": result.values,
        "namespace": target.namespace,
        "valueStream": target.value_stream,
    }


def _edit(
    request: Request,
    visitor: sessions.Visitor,
    view: changes.ChangeView,
    result: scaffolding.Scaffold,
    *,
    title: str,
    waiver: int | None,
) -> None:
    """The change's new version: the form's manifests, title and parameters (a new diff)."""
    context = sessions.context_of(request)
    principal = visitor.principal
    proposing.edit_change(
        context.database,
        request.app.state.changes.tools(),
        view.id,
        manifests=manifests_of(result),
        waiver=waiver,
        author=proposing.Author(actor=principal.actor, subject=principal.subject),
        now=context.clock(),
        title=title,
        source=source_of(result),
    )


def _template(request: Request, name: str) -> templatelibrary.Template:
    found = responding.portal_of(request).templates.get().named(name)
    if found is None:
        raise errors.NotFound(f"no template {name!r} in the library", field="name")
    return found


def _mode(context: Any, target: dict[str, str]) -> str:
    """The environment's mode; refused when the catalog does not know the environment or the team,
    or when the app belongs to another team (as the API refuses)."""
    with context.database.reading() as session:
        environment = repositories.environment_by_name(session, target["environment"])
        team = repositories.team_by_name(session, target["team"])
        owner = repositories.app_owner(session, target["app"])
    if environment is None:
        raise errors.Invalid("no such environment in the catalog", field="environment")
    if team is None:
        raise errors.Invalid("no such team in the catalog", field="team")
    if owner is not None and owner != target["team"]:
        raise errors.Conflict("the app exists and belongs to another team", field="app")
    return environment.enforcement


def _target(target: dict[str, str]) -> scaffolding.Target:
    return scaffolding.Target(
        app=target["app"],
        team=target["team"],
        environment=target["environment"],
        namespace=target["namespace"],
        value_stream=target["valueStream"],
    )


def _scaffold(
    request: Request, template: templatelibrary.Template, *, values: dict[str, Any], target: dict[str, str]
) -> scaffolding.Scaffold:
    context = sessions.context_of(request)
    tools = responding.portal_of(request).templates
    return scaffolding.scaffold(
        template,
        values=values,
        target=_target(target),
        mode=_mode(context, target),
        checker=tools.checker,
        environment=tools.environment,
        now=context.clock(),
    )


def manifests_of(result: scaffolding.Scaffold) -> str:
    """The rendered files as one multi-document YAML text, each headed by its file name."""
    return "".join(f"---\n# {f.name}\n{f.text.strip()}\n" for f in result.files)


def _submit(
    request: Request,
    visitor: sessions.Visitor,
    result: scaffolding.Scaffold,
    *,
    title: str,
    waiver: int | None,
) -> int:
    """Register the app when it is new, propose the change and submit it; the change's id."""
    context = sessions.context_of(request)
    principal, target, now = visitor.principal, result.target, context.clock()
    routes.authorise(context, principal, "change.create", authorising.for_app(target.app, target.team))
    if not title or len(title) > 200:
        raise errors.Invalid("a change has a title of 1 to 200 characters", field="title")
    if catalog.owner_of(context.database, target.app) is None:
        catalog.put_app(context.database, scaffolding.catalog_entry(target), actor=principal.actor, now=now)
    proposal = proposing.Proposal(
        app=target.app,
        env=target.environment,
        title=title,
        manifests=manifests_of(result),
        waiver=waiver,
        source=source_of(result),
    )
    author = proposing.Author(actor=principal.actor, subject=principal.subject)
    view = proposing.create_change(
        context.database, request.app.state.changes.tools(), proposal, author=author, now=now
    )
    view = changes.transition(
        context.database,
        view.id,
        event="submit",
        actor=principal.actor,
        now=now,
        author_only=principal.subject,
    )
    return view.id


def _redirect(request: Request, target: str) -> Response:
    """A redirect; for htmx a header that makes the browser go there (a whole page, not a swap)."""
    if responding.is_partial(request):
        return Response(status_code=200, headers={"HX-Redirect": target})
    return RedirectResponse(target, 303)


def _page(
    request: Request,
    visitor: sessions.Visitor,
    template: templatelibrary.Template,
    *,
    target: dict[str, str],
    texts: dict[str, str],
    result: scaffolding.Scaffold | None,
    problems: list[ParameterError],
    status: int = 200,
    chosen: str = "",
    editing: changes.ChangeView | None = None,
    values: dict[str, Any] | None = None,
) -> Response:
    context = sessions.context_of(request)
    snapshot = catalog.snapshot(context.database)
    principal = visitor.principal
    teams = [t["name"] for t in snapshot["teams"] if principal.team is None or t["name"] == principal.team]
    if result is not None and result.values:
        values = result.values
    elif values is None:
        values = parametervalidating.with_defaults(template.parameters, {})
    by_field: dict[str, list[str]] = {}
    for problem in problems:
        by_field.setdefault(schemaforms.field_of(problem.path), []).append(problem.message)
    fields = schemaforms.fields_of(template.parameters, values=values, texts=texts)
    known = {f.name for f in fields} | set(TARGET)
    general = [message for field, found in by_field.items() if field not in known for message in found]
    shown = result if result is not None and result.valid and not problems else None
    preflight = shown.as_dict()["preflight"] if shown is not None else None
    blocked = preflight is not None and not preflight["allowed"]
    env, now = target["environment"], context.clock()
    name = "partials/scaffold.html" if responding.is_partial(request) else "template.html"
    return responding.page(
        request,
        name,
        status=status,
        template=template,
        fields=fields,
        target=target,
        teams=teams,
        environments=[e["name"] for e in snapshot["environments"]],
        errors=by_field,
        general=general,
        result=shown,
        manifests=manifests_of(shown) if shown is not None else "",
        preflight=preflight,
        eligible=changeediting.eligible_waivers(context, app=target["app"], env=env, now=now)
        if blocked
        else [],
        chosen=chosen,
        editing=editing,
        waiver_links=[
            changeediting.waiver_request_url(app=target["app"], env=env, result=r)
            if r["verdict"] == "fail"
            else ""
            for r in preflight["failing"] + preflight["warnings"]
        ]
        if blocked and preflight is not None
        else [],
        action=f"/portal/library/{quote(template.name, safe='')}",
        **pages.chrome(visitor),
    )
