"""The web portal under /portal: server-rendered pages (Jinja2) with htmx partials for lists, signed in
with a local user or an API token, every page authorised as the API is (``governance.authorising``).

``install(app)`` is called by ``service.apps.create_app``; the pages live in ``pages``, ``waiverpages``,
``auditpages``, ``librarypages``, ``changepages``, ``changeediting`` and ``signing``, sessions and forms
in ``sessions`` and ``forms``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse

from leitplanke.service import templating
from leitplanke.service.portal import (
    auditpages,
    changeediting,
    changepages,
    insightpages,
    librarypages,
    oidcsigning,
    pages,
    policyindexes,
    rendering,
    responding,
    signing,
    signinlimits,
    waiverpages,
)

PREFIX = "/portal"
STATIC = Path(__file__).with_name("static")
ASSETS = {"htmx.min.js": "text/javascript", "portal.css": "text/css"}


def install(app: FastAPI) -> None:
    """The portal's routes and state on ``app`` (whose ``state.context`` is set)."""
    app.state.portal = responding.Portal(
        pages=rendering.Pages(),
        policies=policyindexes.PolicyIndex(),
        templates=templating.TemplateTools(),
        limits=signinlimits.SignInLimits(),
    )
    router = APIRouter(route_class=responding.PortalRoute, include_in_schema=False)
    signing.add_routes(router)
    oidcsigning.install(app, router)  # only when settings configure an OIDC provider
    pages.add_routes(router)
    waiverpages.add_routes(router)
    auditpages.add_routes(router)
    librarypages.add_routes(router)
    changeediting.add_routes(router)  # before changepages: its paths are literal, the decisions' are not
    changepages.add_routes(router)
    insightpages.add_routes(router)

    @router.get("/static/{name}")
    def asset(name: str) -> FileResponse:
        if name not in ASSETS:
            from fastapi import HTTPException

            raise HTTPException(404, f"no portal asset {name!r}")
        return FileResponse(STATIC / name, media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    app.include_router(router, prefix=PREFIX)
