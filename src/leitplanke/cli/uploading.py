"""``scan --upload``: send a scan's results to the governance service for one app and env.

The body is the compact ``leitplanke.dev/upload/v2`` format (``governance.uploadformats``): a
header line, one line per result that is not a pass, one pass count per resource; gzipped and
streamed in chunks (``Transfer-Encoding: chunked``), so it never exists whole in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import typer

from leitplanke.core.problems import UsageError
from leitplanke.core.results import Resource, ScanReport, Verdict
from leitplanke.governance import uploadformats, uploadrendering
from leitplanke.governance.uploading import gzipped as gzipped, post_upload  # gzipped: the tests' name for it
from leitplanke.reports import jsonreports, summaries


def render_upload(
    report: ScanReport, *, app: str, env: str, now: datetime, source: str = uploadformats.DEFAULT_SOURCE
) -> Iterator[bytes]:
    """The lines of the v2 upload of ``report``: header, results that are not passes, pass counts."""
    yield uploadrendering.render_header(
        app=app,
        env=env,
        generated_at=summaries.rfc3339(now),
        summary=jsonreports.render_summary(summaries.build_summary(report)),
        source=source,
    )
    passes: Counter[Resource] = Counter()
    for result in report.results:
        if result.verdict is Verdict.PASS:
            passes[result.resource] += 1
        else:
            yield uploadrendering.render_result(result)
    for resource, count in passes.items():
        yield uploadrendering.render_passes(resource, count)


def upload_report(
    report: ScanReport,
    *,
    url: str,
    app: str | None,
    env: str | None,
    token: str | None,
    now: datetime,
    source: str = uploadformats.DEFAULT_SOURCE,
) -> dict[str, Any]:
    """POST the report to ``URL/api/v1/scans`` as a scan of ``source``; the service's answer (scan id,
    finding transitions)."""
    if not app or not env or not token:
        raise UsageError("--upload needs --app, --env and --token")
    lines = render_upload(report, app=app, env=env, now=now, source=source)
    answer = post_upload(lines, url=url, app=app, env=env, token=token)
    transitions = ", ".join(f"{k} {v}" for k, v in answer.get("transitions", {}).items()) or "no changes"
    typer.echo(f"uploaded as scan {answer.get('scan')} of {app} in {env}: {transitions}", err=True)
    return answer
