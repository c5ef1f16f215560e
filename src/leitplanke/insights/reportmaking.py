"""One business report made and rendered: the scope's history and delivery figures, cost from
Prometheus when a source is given, the built-in policies' controls, then JSON, Markdown, HTML or PDF.
Called by ``leitplanke report`` and by the scheduled reports (``insights.reportruns``), so that both
send the same report.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from leitplanke.insights import costreports, deliverymeasures, histories, reportdata, views
from leitplanke.store.databases import Database


@dataclass(frozen=True, slots=True)
class Made:
    data: dict[str, Any]  # reportdata.build_report's answer
    history: histories.History
    apps: list[str]
    asked: views.Asked  # with the delivery and cost figures it was made with


def make_report(database: Database, asked: views.Asked, *, cost: costreports.Source | None = None) -> Made:
    """The report of ``asked``; ``GovernanceError`` for an unknown team or app of its scope."""
    history, apps = views.load_scope(database, asked)
    section = None
    if cost is not None:
        section, external = costreports.cost_section(
            database, cost, asked=asked, apps=apps, teams=history.teams
        )
        asked = replace(asked, external=external)
    asked = views.with_delivery(database, asked, history)
    dora = deliverymeasures.scope_figures(database, asked.scope, now=asked.now, period=asked.period)
    extras = reportdata.Extras(controls=controls(asked.now), cost=section, dora=dora)
    return Made(reportdata.build_report(history, apps, asked, extras), history, apps, asked)


def controls(now: datetime) -> dict[str, tuple[str, ...]]:
    """Every built-in policy's controls: the report's compliance maps findings onto them."""
    from leitplanke.engine import loading  # the packs are read only when a report is made

    loaded = loading.load_packs(loading.available_packs(), now=now)
    return reportdata.controls_of(loaded.policies)


def render(data: dict[str, Any], fmt: str, *, charts: bool = True) -> bytes:
    """``fmt``: json, md, html or pdf (charts rendered server-side in the last two)."""
    from leitplanke.insights import reportrendering

    if fmt == "json":
        return reportrendering.render_json(data)
    if fmt == "md":
        return reportrendering.render_markdown(data).encode("utf-8")
    pictures = None
    if charts:
        from leitplanke.insights import charts as charting

        pictures = charting.render_charts(data)
    html = reportrendering.render_html(data, charts=pictures)
    if fmt == "html":
        return html.encode("utf-8")
    from leitplanke.insights import pdfs

    return pdfs.render_pdf(html)
