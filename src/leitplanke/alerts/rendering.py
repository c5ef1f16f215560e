"""The payloads of each target format, rendered from ``Alert`` values: generic JSON, the
Alertmanager webhook payload (version 4) and Slack's incoming-webhook message. Pure; called by
``sending.send``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leitplanke.alerts.messages import FIRING, Alert, format_time
from leitplanke.alerts.targets import Target

# what Alertmanager writes for an alert that has not ended
ZERO_TIME = "0001-01-01T00:00:00Z"


def render_webhook(alert: Alert, target: Target) -> dict[str, Any]:
    """Generic JSON: the alert as it is, under a versioned envelope."""
    return {
        "version": "1",
        "receiver": target.name,
        "key": alert.key,
        "alert": {
            "name": alert.name,
            "status": alert.status,
            "severity": alert.severity,
            "summary": alert.summary,
            "labels": alert.all_labels(),
            "annotations": alert.all_annotations(),
            "startsAt": format_time(alert.starts_at),
            "endsAt": None if alert.ends_at is None else format_time(alert.ends_at),
            "generatorURL": alert.generator_url,
            "fingerprint": alert.fingerprint(),
        },
    }


def render_alertmanager(alert: Alert, target: Target) -> dict[str, Any]:
    """The Alertmanager webhook payload, version 4, for one alert in a group of its own."""
    labels = alert.all_labels()
    group = {"alertname": alert.name}
    return {
        "version": "4",
        "groupKey": "{}:" + "{" + f'alertname="{alert.name}"' + "}",
        "truncatedAlerts": 0,
        "status": alert.status,
        "receiver": target.name,
        "groupLabels": group,
        "commonLabels": labels,
        "commonAnnotations": alert.all_annotations(),
        "externalURL": alert.generator_url.split("/api/")[0] if alert.generator_url else "",
        "alerts": [
            {
                "status": alert.status,
                "labels": labels,
                "annotations": alert.all_annotations(),
                "startsAt": format_time(alert.starts_at),
                "endsAt": ZERO_TIME if alert.ends_at is None else format_time(alert.ends_at),
                "generatorURL": alert.generator_url,
                "fingerprint": alert.fingerprint(),
            }
        ],
    }


def render_slack(alert: Alert, target: Target) -> dict[str, Any]:
    """A Slack message: ``text`` for notifications and clients without blocks, ``blocks`` for the rest."""
    mark = ":rotating_light:" if alert.status == FIRING else ":white_check_mark:"
    text = f"{mark} [{alert.severity.upper()}] {alert.summary}"
    facts = ", ".join(f"{k}={v}" for k, v in alert.all_labels().items() if k not in ("alertname", "severity"))
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{alert.name}*\n{text}"}},
    ]
    if facts:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": facts}]})
    if alert.generator_url:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"<{alert.generator_url}|details>"}]}
        )
    return {"text": text, "blocks": blocks}


RENDERERS: dict[str, Callable[[Alert, Target], dict[str, Any]]] = {
    "webhook": render_webhook,
    "alertmanager": render_alertmanager,
    "slack": render_slack,
}


def render_payload(alert: Alert, target: Target) -> dict[str, Any]:
    return RENDERERS[target.kind](alert, target)
