"""The application services library over HTTP: /api/v1/templates, its details and its render.

Routes parse, ask ``authorising`` (listing: ``catalog.read``; rendering: ``template.render`` for the
owning team), look up the target environment's mode in the catalog and call
``catalog.scaffolding``; the library and the pre-flight's policies are loaded once, on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from leitplanke.catalog import preflighting, scaffolding, templatelibrary, templating
from leitplanke.governance import authorising
from leitplanke.service import problems
from leitplanke.service.routes import ContextDep, PrincipalDep, authorise
from leitplanke.store import repositories

TemplateName = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9-]*$")
MAX_ISSUES = 20  # the problem schema's bound on ``errors`` (service.problems)
Label = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class RenderIn(BaseModel):
    """What to render: for which app, team and environment, with which parameters."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    app: str = Label
    team: str = Label
    environment: str = Label
    namespace: str = Field(default="", max_length=100)
    value_stream: str = Field(default="", alias="valueStream", max_length=100)
    values: dict[str, Any] = Field(default_factory=dict)


class TemplateTools:
    """The template library, the sandbox and the pre-flight's compiled packs: built on first use
    (not at start: a service that never renders never pays for them), then shared."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._library: templatelibrary.Library | None = None
        self.checker = preflighting.Checker()
        self.environment = templating.build_environment()

    def get(self) -> templatelibrary.Library:
        with self._lock:
            if self._library is None:
                self._library = templatelibrary.load_library()
            return self._library


def api_router() -> APIRouter:
    router = APIRouter()
    library = TemplateTools()

    @router.get("/templates", tags=["templates"])
    def list_templates(context: ContextDep, principal: PrincipalDep) -> list[dict[str, Any]]:
        """The golden-path templates (any authenticated caller)."""
        authorise(context, principal, "catalog.read", authorising.CATALOG)
        return [t.summary() for t in library.get().listing()]

    @router.get("/templates/{name}", tags=["templates"], responses=problems.responses(404))
    def show_template(name: str, context: ContextDep, principal: PrincipalDep) -> Any:
        """One template: its docs and the JSON-Schema of its parameters (what a form is made from)."""
        authorise(context, principal, "catalog.read", authorising.CATALOG)
        template = library.get().named(name)
        if template is None:
            return problems.problem(404, "Not found", detail="no such template", field="name")
        return template.details()

    @router.post("/templates/{name}/render", tags=["templates"], responses=problems.responses(404, 409))
    def render_template(name: str, body: RenderIn, context: ContextDep, principal: PrincipalDep) -> Any:
        """The manifests for ``app`` of ``team`` in ``environment``, with the pre-flight of every
        built-in pack in that environment's mode and, when the parameters are wrong, every error
        with its field path (422). Nothing is stored."""
        authorise(context, principal, "template.render", authorising.for_team(body.team))
        template = library.get().named(name)
        if template is None:
            return problems.problem(404, "Not found", detail="no such template", field="name")
        refusal, mode = _check_catalog(context, body)
        if refusal is not None:
            return refusal
        target = scaffolding.Target(
            app=body.app,
            team=body.team,
            environment=body.environment,
            namespace=body.namespace,
            value_stream=body.value_stream,
        )
        result = scaffolding.scaffold(
            template,
            values=body.values,
            target=target,
            mode=mode,
            checker=library.checker,
            environment=library.environment,
            now=context.clock(),
        )
        if result.errors:
            errors = [e.as_dict() for e in result.errors]
            detail = f"{len(errors)} invalid parameter(s)"
            extra = {"errors": errors[:MAX_ISSUES]}
            return problems.problem(
                422, "Invalid parameters", detail=detail, field=errors[0]["field"], extra=extra
            )
        answer = result.as_dict()
        answer["catalogEntry"] = _entry(scaffolding.catalog_entry(target))
        return answer

    return router


def _check_catalog(context: Any, body: RenderIn) -> tuple[Response | None, str]:
    """The environment's mode; a refusal when the catalog does not know the environment or the
    team, or when the app belongs to another team."""
    with context.database.reading() as session:
        environment = repositories.environment_by_name(session, body.environment)
        team = repositories.team_by_name(session, body.team)
        owner = repositories.app_owner(session, body.app)
    if environment is None:
        return problems.problem(
            422, "Unknown environment", detail="no such environment", field="environment"
        ), ""
    if team is None:
        return problems.problem(422, "Unknown team", detail="no such team", field="team"), ""
    if owner is not None and owner != body.team:
        detail = "the app exists and belongs to another team"
        return problems.problem(409, "Conflict", detail=detail, field="app"), ""
    return None, environment.enforcement


def _entry(spec: Any) -> dict[str, Any]:
    return {
        "name": spec.name,
        "owner": spec.owner,
        "valueStream": spec.value_stream,
        "lifecycle": spec.lifecycle,
        "cloudNative": spec.cloud_native,
        "repository": spec.repository,
    }
