"""How every portal route answers: refusals become pages, every answer gets the portal's headers.

``PortalRoute`` wraps each handler of the portal's router: a visitor without a session is sent to the
sign-in page, a governance refusal (404, 403, 409, 422) or an HTTP error is shown as a page with its
status, and every response carries a strict Content-Security-Policy and is never cached.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute

from leitplanke.governance import errors
from leitplanke.service import templating
from leitplanke.service.portal import policyindexes, rendering, sessions, signinlimits

_log = logging.getLogger(__name__)
STATUS = {"not-found": 404, "forbidden": 403, "conflict": 409, "invalid": 422}
HEADERS = {
    # scripts and styles from the portal only: an injected <script> or inline handler never runs
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True, slots=True)
class Portal:
    """What the portal's pages need beside the application's context."""

    pages: rendering.Pages
    policies: policyindexes.PolicyIndex
    templates: templating.TemplateTools
    limits: signinlimits.SignInLimits


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


def page(request: Request, name: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    """A page (or, for an htmx request of a list, its partial) rendered with the visitor's values."""
    html = portal_of(request).pages.render(name, **values)
    return HTMLResponse(html, status_code=status)


def is_partial(request: Request) -> bool:
    """An htmx request (``HX-Request: true``): only the list's partial is sent back."""
    return request.headers.get("hx-request") == "true"


def _refusal(request: Request, status: int, message: str, field: str = "") -> Response:
    visitor = sessions.current(request)
    principal = visitor.principal if visitor is not None else None
    return page(
        request,
        "error.html",
        status=status,
        title=f"{status}",
        message=message,
        field=field,
        principal=principal,
        csrf=visitor.csrf if visitor is not None else "",
    )


class PortalRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                response = await handler(request)
            except sessions.SignInNeeded as needed:
                response = RedirectResponse(f"{sessions.SIGN_IN}?next={quote(needed.back, safe='')}", 303)
            except errors.GovernanceError as refused:
                response = _refusal(request, STATUS.get(refused.code, 400), str(refused), refused.field)
            except RequestValidationError as invalid:
                wrong = invalid.errors()[0] if invalid.errors() else {}
                where = ".".join(str(part) for part in wrong.get("loc", ())[1:])
                response = _refusal(request, 422, f"{where}: {wrong.get('msg', 'invalid')}", where)
            except HTTPException as failed:
                response = _refusal(request, failed.status_code, str(failed.detail))
            response.headers.update(HEADERS)
            return response

        return answer
