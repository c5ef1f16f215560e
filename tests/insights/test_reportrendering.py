"""The report's renderers: every value from outside is text in HTML (escaped by the template engine)
and in Markdown (no line breaks or pipes that would break a table)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import historydata

from leitplanke.insights import histories, kpis, reportdata, reportrendering, scopes, views
from leitplanke.settings import DEFAULT_SLA_DAYS

HOSTILE = '<script>alert("x")</script>|\nnext'


def _report(database: Any) -> dict[str, Any]:
    now = historydata.T + timedelta(days=21)
    history = histories.load_history(database, until=now)
    asked = views.Asked(scopes.Scope("org"), now, timedelta(days=21), kpis.default_kpis(), DEFAULT_SLA_DAYS)
    data = reportdata.build_report(history, sorted(history.teams), asked, reportdata.Extras(controls={}))
    data["compliance"]["recurring"][0]["policy"] = HOSTILE
    data["scope"] = HOSTILE
    return data


def test_html_escapes_every_value(catalog_database: Any, result: Any) -> None:
    historydata.ingest_history(catalog_database, result)
    html = reportrendering.render_html(_report(catalog_database))
    assert "<script>" not in html
    assert (
        html.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;|") == 3
    )  # the title, the heading, the recurring row


def test_markdown_keeps_a_hostile_value_on_one_line_of_its_table(catalog_database: Any, result: Any) -> None:
    historydata.ingest_history(catalog_database, result)
    markdown = reportrendering.render_markdown(_report(catalog_database))
    assert '| <script>alert("x")</script>\\| next | checkout, warehouse | 2 |' in markdown.splitlines()
