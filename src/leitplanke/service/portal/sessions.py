"""Who is looking at a page: the session cookie's key resolved to a ``portalsessions.Current``.

The cookie is ``__Host-`` prefixed (Secure, Path=/, no Domain), HttpOnly and SameSite=Lax; the session
itself, with its CSRF token, is kept on the server. Called by every page and form of the portal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import Request, Response

from leitplanke.governance import access, portalsessions
from leitplanke.service.contexts import Context

COOKIE = "__Host-leitplanke-portal"
SIGN_IN = "/portal/sign-in"


class SignInNeeded(Exception):
    """No session, or one without a principal: the visitor is sent to the sign-in page."""

    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


@dataclass(frozen=True, slots=True)
class Visitor:
    key: str
    csrf: str
    principal: access.Principal


def context_of(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


def current(request: Request) -> portalsessions.Current | None:
    context = context_of(request)
    return portalsessions.current(context.database, request.cookies.get(COOKIE), now=context.clock())


def signed_in(request: Request) -> Visitor:
    """The signed-in visitor; ``SignInNeeded`` (a redirect to the sign-in page) otherwise."""
    found = current(request)
    key = request.cookies.get(COOKIE, "")
    if found is None or found.principal is None:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(back)
    return Visitor(key=key, csrf=found.csrf, principal=found.principal)


def set_cookie(response: Response, opened: portalsessions.Opened, *, now: datetime) -> None:
    response.set_cookie(
        COOKIE,
        opened.key,
        max_age=int((opened.expires_at - now).total_seconds()),
        path="/",
        secure=True,
        httponly=True,
        samesite="lax",
    )


def clear_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="lax")


def safe_back(target: str | None) -> str:
    """Where to go after sign-in: a path of the portal only (never another site: no open redirect)."""
    if target and target.startswith("/portal/") and not target.startswith("/portal//") and "\\" not in target:
        return target
    return "/portal/"
