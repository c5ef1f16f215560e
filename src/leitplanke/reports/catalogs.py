"""The policy catalog: every policy with its rationale, controls, remediation and rules, as Markdown or HTML.

Called by ``leitplanke policies docs``. Pure (policies in, one string out, no time stamp), so the
same policies always give the same bytes; the HTML is one self-contained file. The contents are
built in ``catalogentries``, each format in ``markdowncatalogs`` and ``htmlcatalogs``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from leitplanke.core.policies import Policy
from leitplanke.core.problems import UsageError
from leitplanke.reports import htmlcatalogs, markdowncatalogs

FORMATS = ("markdown", "html")
SUFFIXES: Mapping[str, str] = {"markdown": ".md", "html": ".html"}


def render(fmt: str, policies: Sequence[Policy]) -> str:
    if fmt == "markdown":
        return markdowncatalogs.render_markdown(policies)
    if fmt == "html":
        return htmlcatalogs.render_html(policies)
    raise UsageError(f"unknown catalog format {fmt!r}; use markdown or html")
