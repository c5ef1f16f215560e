"""``scan --upload``: send a scan's results to the governance service for one app and env.

The body is the compact ``leitplanke.dev/upload/v2`` format (``governance.uploadformats``): a
header line, one line per result that is not a pass, one pass count per resource; gzipped and
streamed in chunks (``Transfer-Encoding: chunked``), so it never exists whole in memory.
"""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

import typer

from leitplanke.core.problems import ServiceRefused, ServiceUnreachable, UsageError
from leitplanke.core.results import Resource, ScanReport, Verdict
from leitplanke.governance import uploadformats
from leitplanke.reports import jsonreports, summaries

_CHUNK = 1 << 16


def render_upload(report: ScanReport, *, app: str, env: str, now: datetime) -> Iterator[bytes]:
    """The lines of the v2 upload of ``report``: header, results that are not passes, pass counts."""
    yield uploadformats.render_header(
        app=app,
        env=env,
        generated_at=summaries.rfc3339(now),
        summary=jsonreports.render_summary(summaries.build_summary(report)),
    )
    passes: Counter[Resource] = Counter()
    for result in report.results:
        if result.verdict is Verdict.PASS:
            passes[result.resource] += 1
        else:
            yield uploadformats.render_result(result)
    for resource, count in passes.items():
        yield uploadformats.render_passes(resource, count)


def gzipped(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """``pieces`` gzipped, in chunks of about 64 KiB."""
    # level 1: a scan's lines repeat so much that it compresses nearly as well as 6, in a fraction of the time
    deflater = zlib.compressobj(1, zlib.DEFLATED, 31)
    pending: list[bytes] = []
    size = 0
    for piece in pieces:
        out = deflater.compress(piece)
        if out:
            pending.append(out)
            size += len(out)
        if size >= _CHUNK:
            yield b"".join(pending)
            pending, size = [], 0
    pending.append(deflater.flush())
    yield b"".join(pending)


def upload_report(
    report: ScanReport, *, url: str, app: str | None, env: str | None, token: str | None, now: datetime
) -> dict[str, Any]:
    """POST the report to ``URL/api/v1/scans``; the service's answer (scan id, finding transitions)."""
    if not app or not env or not token:
        raise UsageError("--upload needs --app, --env and --token")
    import urllib.error  # with http.client and ssl: only when a report is uploaded
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"app": app, "env": env})
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/v1/scans?{query}",
        data=gzipped(render_upload(report, app=app, env=env, now=now)),  # sent chunked
        method="POST",
        headers={
            "Content-Type": uploadformats.MEDIA_TYPE,
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise ServiceRefused(f"upload to {url} refused ({exc.code}): {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:  # no answer: connection refused, DNS, TLS, timeout
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ServiceUnreachable(f"could not reach {url}: {reason}") from exc
    transitions = ", ".join(f"{k} {v}" for k, v in answer.get("transitions", {}).items()) or "no changes"
    typer.echo(f"uploaded as scan {answer.get('scan')} of {app} in {env}: {transitions}", err=True)
    return answer
