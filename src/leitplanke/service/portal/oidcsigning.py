"""OIDC sign-in for the portal (authorization code flow with PKCE, state and nonce), only when settings
configure a provider: ``/portal/sign-in/oidc`` sends the browser to the provider, the callback exchanges
the code, verifies the ID token (``idtokens``) and opens a session as a local sign-in does.

A sign-in in progress is kept in memory, bound to the sign-in form's session (its key's hash), used once
and for 10 minutes at most; the principal's role and team come from the first mapped group.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import RedirectResponse

from leitplanke.governance import auditing, errors, portalsessions, portalusers
from leitplanke.service.contexts import Context
from leitplanke.service.portal import idtokens, oidcproviders, sessions, signing
from leitplanke.settings import OidcSettings

PENDING_FOR_SECONDS = 600.0
MAX_PENDING = 10_000  # sign-ins in progress at once: bounds the memory an anonymous crowd can take


@dataclass(frozen=True, slots=True)
class Pending:
    key_hash: str  # of the session the sign-in started in
    nonce: str
    verifier: str
    back: str
    started: float  # time.monotonic()


class Flows:
    """The provider and the sign-ins in progress (thread-safe)."""

    def __init__(self, settings: OidcSettings) -> None:
        self.settings = settings
        self.provider = oidcproviders.Provider(settings)
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}

    def start(self, state: str, pending: Pending) -> bool:
        with self._lock:
            now = time.monotonic()
            for old in [s for s, p in self._pending.items() if now - p.started > PENDING_FOR_SECONDS]:
                del self._pending[old]
            if len(self._pending) >= MAX_PENDING:
                return False
            self._pending[state] = pending
            return True

    def take(self, state: str) -> Pending | None:
        """The sign-in of ``state``, once (a replayed callback finds nothing)."""
        with self._lock:
            found = self._pending.pop(state, None)
        if found is None or time.monotonic() - found.started > PENDING_FOR_SECONDS:
            return None
        return found


def install(app: FastAPI, router: APIRouter) -> None:
    """The OIDC routes, when the application's settings configure a provider."""
    oidc: OidcSettings | None = app.state.context.settings.oidc
    if oidc is None:
        return
    app.state.oidc = Flows(oidc)
    router.add_api_route("/sign-in/oidc", start_sign_in, methods=["GET"])
    router.add_api_route("/sign-in/oidc/callback", finish_sign_in, methods=["GET"])


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def start_sign_in(request: Request, next: str = "") -> Response:
    flows: Flows = request.app.state.oidc
    context = sessions.context_of(request)
    back = sessions.safe_back(next)
    try:
        endpoints = flows.provider.endpoints()
    except oidcproviders.ProviderError as exc:
        return signing.form_page(request, back=back, message=_unreachable(flows, exc), status=502)
    key = request.cookies.get(sessions.COOKIE)
    opened = None
    if key is None or sessions.current(request) is None:
        opened = portalsessions.open_anonymous(context.database, now=context.clock(), replaces=key)
        key = opened.key
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    pending = Pending(_hash(key), nonce, verifier, back, time.monotonic())
    if not flows.start(state, pending):
        message = "Too many sign-ins are in progress; try again in a few minutes."
        return signing.form_page(request, back=back, message=message, status=503)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    url = oidcproviders.authorization_url(
        endpoints, flows.settings, state=state, nonce=nonce, challenge=challenge
    )
    response = RedirectResponse(url, 303)
    if opened is not None:
        sessions.set_cookie(response, opened, now=context.clock())
    return response


def finish_sign_in(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    flows: Flows = request.app.state.oidc
    context = sessions.context_of(request)
    client = request.client.host if request.client is not None else "unknown"
    key = request.cookies.get(sessions.COOKIE, "")
    pending = flows.take(state[:100])
    if pending is None or not hmac.compare_digest(pending.key_hash, _hash(key)):
        _failed(context, reason="wrong-state", client=client)
        message = "This sign-in was not started in this browser or has expired; sign in again."
        return signing.form_page(request, back="/portal/", message=message, status=403)
    back = pending.back
    if error or not code:
        _failed(context, reason="provider-refused", client=client)
        message = f"{flows.settings.provider_name} did not sign you in ({error[:100] or 'no code'})."
        return signing.form_page(request, back=back, message=message, status=401)
    try:
        id_token = flows.provider.exchange(code=code[:2000], verifier=pending.verifier)
        jwks = flows.provider.jwks()
    except oidcproviders.ProviderError as exc:
        _failed(context, reason=f"provider-{exc.step}", client=client)
        return signing.form_page(request, back=back, message=_unreachable(flows, exc), status=502)
    now = context.clock()
    claims = idtokens.verify(
        id_token,
        jwks=jwks,
        issuer=flows.settings.issuer,
        client_id=flows.settings.client_id,
        nonce=pending.nonce,
        now=now.timestamp(),
    )
    if isinstance(claims, idtokens.Refused):
        _failed(context, reason=claims.code, client=client)
        return signing.form_page(request, back=back, message=f"Sign-in refused: {claims.reason}.", status=401)
    return _signed_in(request, flows=flows, claims=claims, back=back, client=client, now=now)


def _signed_in(
    request: Request, *, flows: Flows, claims: dict[str, Any], back: str, client: str, now: datetime
) -> Response:
    """The session of the verified user, if one of its groups is mapped to a role."""
    context = sessions.context_of(request)
    name = claims.get(flows.settings.user_claim)
    if not isinstance(name, str) or not portalusers.LOGIN.match(name):
        _failed(context, reason="no-user-claim", client=client)
        message = f"Sign-in refused: the ID token has no usable {flows.settings.user_claim!r} claim."
        return signing.form_page(request, back=back, message=message, status=403)
    groups = _groups(claims.get(flows.settings.groups_claim))
    mapped = next((flows.settings.group_roles[g] for g in flows.settings.group_roles if g in groups), None)
    if mapped is None:
        _failed(context, reason="unmapped-group", client=client, login=name, groups=sorted(groups)[:20])
        message = (
            f"Sign-in refused: {name} is in no group that has a role in leitplanke. "
            "Ask a platform admin to map one of your groups."
        )
        return signing.form_page(request, back=back, message=message, status=403)
    role, team = mapped
    try:
        user_id = portalusers.put_oidc_user(context.database, name=name, role=role, team=team, now=now)
    except errors.GovernanceError as refused:
        _failed(context, reason=refused.code, client=client, login=name)
        return signing.form_page(request, back=back, message=f"Sign-in refused: {refused}.", status=403)
    if user_id is None:
        _failed(context, reason="disabled", client=client, login=name)
        message = f"Sign-in refused: the portal user oidc:{name} is disabled."
        return signing.form_page(request, back=back, message=message, status=403)
    old_key = request.cookies.get(sessions.COOKIE)
    opened = portalsessions.sign_in_user(context.database, user_id=user_id, now=now, replaces=old_key)
    details = {"client": client, "via": "oidc", "role": role, "team": team}
    auditing.record(
        context.database,
        actor=f"user:oidc:{name}",
        action="portal.sign-in",
        target="portal",
        now=now,
        details=details,
    )
    response = RedirectResponse(back, 303)
    sessions.set_cookie(response, opened, now=now)
    return response


def _groups(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, list):
        return {item for item in value[:1000] if isinstance(item, str)}
    return set()


def _unreachable(flows: Flows, exc: oidcproviders.ProviderError) -> str:
    return f"Sign-in with {flows.settings.provider_name} is not available now ({exc})."


def _failed(context: Context, *, reason: str, client: str, login: str = "", groups: Any = None) -> None:
    """A refused OIDC sign-in in the audit log: why, from where, and who when the token said so."""
    details: dict[str, Any] = {"via": "oidc", "reason": reason, "client": client, "login": login}
    if groups is not None:
        details["groups"] = groups
    auditing.record(
        context.database,
        actor="anonymous",
        action="portal.sign-in-failed",
        target="portal",
        now=context.clock(),
        details=details,
    )
