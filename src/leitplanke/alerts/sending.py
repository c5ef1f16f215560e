"""Sending one alert to one target: render, POST as JSON through a ``Transport``, raise
``SendError`` unless the receiver answers 2xx. Called by ``governance.relaying``.

``HttpTransport`` uses the standard library (a POST a few times a minute needs no client library);
the ``Transport`` protocol is the seam for tests and other protocols.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Protocol

from leitplanke.alerts import escaping
from leitplanke.alerts.errors import SendError
from leitplanke.alerts.messages import Alert
from leitplanke.alerts.rendering import render_payload
from leitplanke.alerts.targets import Target


class Transport(Protocol):
    def post(self, url: str, body: bytes, *, headers: Mapping[str, str], timeout: float) -> int:
        """POST ``body``; the HTTP status. Raises ``SendError`` when the receiver is not reached."""
        ...


class HttpTransport:
    def post(self, url: str, body: bytes, *, headers: Mapping[str, str], timeout: float) -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SendError(f"{url}: {getattr(exc, 'reason', exc)}") from exc


def send(alert: Alert, target: Target, *, transport: Transport, idempotency_key: str) -> None:
    """POST the alert in the target's format. ``idempotency_key`` goes along as a header, so a
    receiver can drop a repeat after a crash between sending and recording that it was sent (it
    carries app and environment names: anything but visible ASCII in it is percent-encoded)."""
    body = json.dumps(render_payload(alert, target), sort_keys=True).encode("utf-8")
    headers = {
        **target.headers,
        "Content-Type": "application/json",
        "User-Agent": "leitplanke-alerts",
        "Idempotency-Key": escaping.header_value(idempotency_key),
    }
    status = transport.post(target.url, body, headers=headers, timeout=target.timeout_seconds)
    if not 200 <= status < 300:
        raise SendError(f"{target.name}: {target.url} answered {status}", status=status)
