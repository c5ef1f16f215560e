"""Alerts leaving leitplanke: what an alert says, where it goes, and how it is sent.

Pure below the transport: ``messages`` (the ``Alert`` value), ``targets`` (configured receivers,
parsed from JSON), ``rendering`` (generic JSON, Alertmanager webhook v4, Slack payloads), ``escaping``
(values from outside made inert in each format) and ``sending`` (one HTTP POST through a
``Transport``, the seam tests replace). Deciding which alerts to raise and relaying the outbox
that holds them live above, in ``governance.alerting`` and ``governance.relaying``. Exceptions::

    LeitplankeError
     └── AlertError
          ├── TargetError     a target configuration that cannot be used (names every field at fault)
          └── SendError       a receiver that could not be reached or refused the payload (retried)
"""

from leitplanke.alerts.errors import AlertError, SendError, TargetError
from leitplanke.alerts.messages import Alert
from leitplanke.alerts.rendering import render_payload
from leitplanke.alerts.sending import HttpTransport, Transport, send
from leitplanke.alerts.targets import Target, parse_targets

__all__ = [
    "Alert",
    "AlertError",
    "HttpTransport",
    "SendError",
    "Target",
    "TargetError",
    "Transport",
    "parse_targets",
    "render_payload",
    "send",
]
