"""Sign-in and sign-out: a local user's login and password, or an existing API token (its roles).

The sign-in form comes with a session of its own (its CSRF token, nobody's rights); a successful
sign-in ends that session and opens a new one with a new key, so a key planted before is worthless.
Failures are limited per login and client address (``signinlimits``); sign-ins and failures are audited.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from leitplanke.governance import access, auditing, portalsessions, portalusers
from leitplanke.service.contexts import Context
from leitplanke.service.portal import forms, responding, sessions


def add_routes(router: APIRouter) -> None:
    @router.get("/sign-in")
    def sign_in_form(request: Request, next: str = "") -> Response:
        return form_page(request, back=sessions.safe_back(next), message="", status=200)

    @router.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        context = sessions.context_of(request)
        known = sessions.current(request)  # resolved before the body is read
        if known is None:
            return form_page(
                request, back="/portal/", message="Your sign-in form expired; try again.", status=403
            )
        form = await forms.read_form(request)
        forms.check_csrf(form, known.csrf)
        now, database = context.clock(), context.database
        old_key = request.cookies.get(sessions.COOKIE)
        back = sessions.safe_back(form.get("next"))
        token = form.get("token").strip()
        login = "" if token else form.get("login")[:100]
        client = request.client.host if request.client is not None else "unknown"
        limits = responding.portal_of(request).limits
        wait = limits.refused(login=login, client=client, now=now)
        if wait:
            _audit(context, "portal.sign-in-limited", login=login, client=client, now=now)
            message = f"Too many failed sign-ins: try again in {-(-wait // 60)} minutes."
            answer = form_page(request, back=back, message=message, status=429)
            answer.headers["Retry-After"] = str(wait)
            return answer
        found = _principal(context, token=token, login=login, password=form.get("password"))
        if isinstance(found, str):
            limits.failed(login=login, client=client, now=now)
            _audit(context, "portal.sign-in-failed", login=login, client=client, now=now)
            return form_page(request, back=back, message=found, status=401)
        user_id, token_id, who = found
        if user_id is not None:
            limits.succeeded(login=login)
            opened = portalsessions.sign_in_user(database, user_id=user_id, now=now, replaces=old_key)
        else:
            opened = portalsessions.sign_in_token(database, token_id=token_id, now=now, replaces=old_key)
        auditing.record(
            database, actor=who, action="portal.sign-in", target="portal", now=now, details={"client": client}
        )
        response = RedirectResponse(back, 303)
        sessions.set_cookie(response, opened, now=now)
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        visitor = sessions.signed_in(request)
        form = await forms.read_form(request)
        forms.check_csrf(form, visitor.csrf)
        portalsessions.sign_out(sessions.context_of(request).database, visitor.key)
        response = RedirectResponse(sessions.SIGN_IN, 303)
        sessions.clear_cookie(response)
        return response


def _principal(
    context: Context, *, token: str, login: str, password: str
) -> tuple[int | None, int, str] | str:
    """(user id, token id, actor) of a right token or password; else what the form says."""
    if token:
        principal = access.authenticate(context.database, token)
        if principal is None:
            return "That API token is unknown or revoked."
        return None, principal.token_id, principal.actor
    user_id = portalusers.check_password(context.database, login=login, password=password)
    if user_id is None:
        return "Wrong login or password."
    return user_id, 0, f"user:{login}"


def _audit(context: Context, action: str, *, login: str, client: str, now: datetime) -> None:
    """A failed or refused sign-in in the audit log: the login tried (never the password) and from where."""
    details = {"login": login, "client": client}
    auditing.record(
        context.database, actor="anonymous", action=action, target="portal", now=now, details=details
    )


def form_page(request: Request, *, back: str, message: str, status: int) -> Response:
    """The sign-in page with a fresh form session (and its cookie)."""
    context = sessions.context_of(request)
    now = context.clock()
    opened = portalsessions.open_anonymous(
        context.database, now=now, replaces=request.cookies.get(sessions.COOKIE)
    )
    oidc = context.settings.oidc
    response = responding.page(
        request,
        "signin.html",
        status=status,
        back=back,
        message=message,
        csrf=opened.csrf,
        principal=None,
        oidc_name=oidc.provider_name if oidc is not None else "",
    )
    sessions.set_cookie(response, opened, now=now)
    return response
