"""The policy catalog (every built-in policy, searchable) and the audit trail with its "verify chain"
button. The catalog is for every signed-in principal, as the API's; the audit trail for platform-admins.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from leitplanke.governance import auditing, auditverifying, authorising
from leitplanke.service import routes
from leitplanke.service.portal import forms, pages, responding, sessions
from leitplanke.store import postures

Words = Annotated[str, Query(max_length=200)]


def add_routes(router: APIRouter) -> None:
    @router.get("/policies")
    def policies(
        request: Request,
        q: Words = "",
        pack: pages.Name = "",
        severity: pages.Severity = "",
        page: pages.PageNo = 1,
    ) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        routes.authorise(context, visitor.principal, "catalog.read", authorising.CATALOG)
        index = responding.portal_of(request).policies
        now = context.clock()
        found = index.search(now=now, words=q, pack=pack, severity=severity)
        filters = {"q": q, "pack": pack, "severity": severity}
        listing = pages.listing(found, page=page, filters=filters, base="/portal/policies")
        listing["packs"] = index.packs(now=now)
        template = "partials/policies.html" if responding.is_partial(request) else "policies.html"
        return responding.page(request, template, **listing, **pages.chrome(visitor))

    @router.get("/audit")
    def audit(
        request: Request, action: pages.Name = "", target: Words = "", page: pages.PageNo = 1
    ) -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        routes.authorise(context, visitor.principal, "audit.read", authorising.AUDIT)
        return _audit_page(request, visitor, action=action, target=target, page=page, verification=None)

    @router.post("/audit/verify")
    async def verify(request: Request) -> Response:
        visitor = sessions.signed_in(request)
        form = await forms.read_form(request)
        forms.check_csrf(form, visitor.csrf)
        context = sessions.context_of(request)
        routes.authorise(context, visitor.principal, "audit.verify", authorising.AUDIT)
        verification = auditverifying.verify_database(context.database, full=form.get("full") == "true")
        return _audit_page(request, visitor, action="", target="", page=1, verification=verification)


def _audit_page(
    request: Request,
    visitor: sessions.Visitor,
    *,
    action: str,
    target: str,
    page: int,
    verification: auditverifying.Verification | None,
) -> Response:
    context = sessions.context_of(request)
    size = pages.PAGE_SIZE
    with context.database.reading() as session:
        total, rows = postures.audit_records(
            session, action=action or None, target=target or None, limit=size, offset=(page - 1) * size
        )
        items = [auditing.render_record(row) for row in rows]
    listing: dict[str, Any] = {
        "items": items,
        "filters": {"action": action, "target": target},
        "pager": pages.pager(total=total, page=page),
        "base": "/portal/audit",
    }
    template = "partials/audit.html" if responding.is_partial(request) else "audit.html"
    return responding.page(request, template, **listing, verification=verification, **pages.chrome(visitor))
