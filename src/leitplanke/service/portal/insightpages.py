"""The level-4 scorecard and the policy trends as portal pages: the organisation's for platform-admins,
a team's for its members (by default their own team), authorised and computed as the insights API's
(``service.insightful``), from the instance's warm history cache.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from leitplanke.insights import views
from leitplanke.service import insightful
from leitplanke.service.portal import pages, responding, sessions

ScopeText = Annotated[str, Query(max_length=110)]
PeriodText = Annotated[str, Query(max_length=6)]


def add_routes(router: APIRouter) -> None:
    @router.get("/scorecard")
    def scorecard(request: Request, scope: ScopeText = "", period: PeriodText = "30d") -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        chosen = scope or _default_scope(visitor)
        asked = insightful.asked_for(context, visitor.principal, scope=chosen, period=period)
        cache = insightful.cache_of(request)
        history, apps = views.load_scope(context.database, asked, cache=cache)
        asked = insightful.outside_figures(context, asked, history, cache=cache)
        card = views.scorecard(history, apps, asked, cache=cache)
        shown = {"scope": chosen, "period": period}
        return responding.page(request, "scorecard.html", card=card, shown=shown, **pages.chrome(visitor))

    @router.get("/trends")
    def trends(request: Request, scope: ScopeText = "", period: PeriodText = "30d") -> Response:
        visitor = sessions.signed_in(request)
        context = sessions.context_of(request)
        chosen = scope or _default_scope(visitor)
        asked = insightful.asked_for(context, visitor.principal, scope=chosen, period=period)
        history, apps = views.load_scope(context.database, asked, cache=insightful.cache_of(request))
        found = views.trend_view(history, apps, asked)
        shown = {"scope": chosen, "period": period}
        return responding.page(request, "trends.html", trends=found, shown=shown, **pages.chrome(visitor))


def _default_scope(visitor: sessions.Visitor) -> str:
    team = visitor.principal.team
    return "org" if team is None else f"team:{team}"
