"""The report's HTML printed to PDF by WeasyPrint, with no network access (every resource is inline).
The only module that imports ``weasyprint``; called by ``cli.report``.
"""

from __future__ import annotations

from typing import Any

import weasyprint  # type: ignore[import-untyped]  # WeasyPrint ships no type information

from leitplanke.core.problems import LeitplankeError


class PdfError(LeitplankeError):
    code = "pdf"


def _no_fetching(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    raise ValueError(f"the report fetches nothing: {url[:80]}")


def render_pdf(html: str) -> bytes:
    try:
        document = weasyprint.HTML(string=html, url_fetcher=_no_fetching)
        pdf = document.write_pdf()
    except Exception as exc:  # WeasyPrint raises a variety (OSError, ValueError, its own): wrapped here
        raise PdfError(f"the PDF could not be written: {exc}") from exc
    assert pdf is not None
    return bytes(pdf)
