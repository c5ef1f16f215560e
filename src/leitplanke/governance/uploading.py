"""Sending a scan upload to the governance service: the client side of ``POST /api/v1/scans``.

The lines of a ``leitplanke.dev/upload/v2`` body (``uploadformats``) are gzipped and streamed in
chunks (``Transfer-Encoding: chunked``), so a body never exists whole in memory. Called by the CLI's
``scan --upload`` and by the cluster agent; failures are ``ServiceUnreachable`` or ``ServiceRefused``.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from leitplanke.core.problems import ServiceRefused, ServiceUnreachable
from leitplanke.governance import uploadformats

_CHUNK = 1 << 16


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


def post_upload(
    lines: Iterable[bytes], *, url: str, app: str, env: str, token: str, timeout: float = 300
) -> dict[str, Any]:
    """POST the upload ``lines`` to ``URL/api/v1/scans`` for (app, env); the service's answer."""
    import urllib.error  # with http.client and ssl: only when something is uploaded
    import urllib.parse
    import urllib.request

    query = urllib.parse.urlencode({"app": app, "env": env})
    request = urllib.request.Request(
        f"{url.rstrip('/')}/api/v1/scans?{query}",
        data=gzipped(lines),  # sent chunked
        method="POST",
        headers={
            "Content-Type": uploadformats.MEDIA_TYPE,
            "Content-Encoding": "gzip",
            "Authorization": f"Bearer {token}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", "replace")
        raise ServiceRefused(f"upload to {url} refused ({exc.code}): {detail}") from exc
    except (urllib.error.URLError, OSError) as exc:  # no answer: connection refused, DNS, TLS, timeout
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ServiceUnreachable(f"could not reach {url}: {reason}") from exc
    return answer
