"""The payloads of each target format, rendered from ``Alert`` values: generic JSON, the
Alertmanager webhook payload (version 4) and Slack's incoming-webhook message. Pure; called by
``sending.send``.

Every payload is a JSON value built as data (never JSON text pieced together); the two strings
with a syntax of their own, Slack's mrkdwn and Alertmanager's group key, take each value through
``escaping``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leitplanke.alerts import escaping
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
        "groupKey": "{}:{alertname=" + escaping.go_quote(alert.name) + "}",
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
    """A Slack message: ``text`` for notifications and clients without blocks, ``blocks`` for the rest.
    Every value is inert mrkdwn (``escaping.slack_text``); the only markup is this function's own."""
    mark = ":rotating_light:" if alert.status == FIRING else ":white_check_mark:"
    text = f"{mark} [{escaping.slack_text(alert.severity.upper())}] {escaping.slack_text(alert.summary)}"
    facts = ", ".join(
        f"{escaping.slack_text(k)}={escaping.slack_text(v)}"
        for k, v in alert.all_labels().items()
        if k not in ("alertname", "severity")
    )
    description = escaping.slack_text(alert.annotations.get("description", ""))
    blocks = [_section(f"*{escaping.slack_text(alert.name)}*\n{text}")]
    if description.strip():
        blocks.append(_section(description))
    if facts:
        blocks.append(_context(facts))
    link = escaping.slack_link(alert.generator_url, "details")
    if link:
        blocks.append(_context(link))
    return {"text": _fit(text, SLACK_TEXT_LIMIT), "blocks": blocks}


# Slack refuses a message whose section or context text is longer: the alert would never arrive
SLACK_BLOCK_LIMIT = 3000
SLACK_TEXT_LIMIT = 4000  # the notification text; Slack truncates longer ones itself


def _section(text: str) -> dict[str, Any]:
    # verbatim: Slack does not look for URLs, channel names or mentions in the text by itself
    return {"type": "section", "text": {"type": "mrkdwn", "text": _fit(text), "verbatim": True}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _fit(text), "verbatim": True}]}


def _fit(text: str, limit: int = SLACK_BLOCK_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, never inside an ``&amp;`` entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    entity = cut.rfind("&")
    if entity >= 0 and ";" not in cut[entity:]:
        cut = cut[:entity]
    return cut + "\N{HORIZONTAL ELLIPSIS}"


def render_alertmanager_api(alert: Alert, target: Target) -> list[dict[str, Any]]:
    """Alertmanager's own API (``POST /api/v2/alerts``): a list of postable alerts, here one."""
    posted: dict[str, Any] = {
        "labels": alert.all_labels(),
        "annotations": alert.all_annotations(),
        "startsAt": format_time(alert.starts_at),
        "generatorURL": alert.generator_url,
    }
    if alert.ends_at is not None:
        posted["endsAt"] = format_time(alert.ends_at)
    return [posted]


RENDERERS: dict[str, Callable[[Alert, Target], Any]] = {
    "webhook": render_webhook,
    "alertmanager": render_alertmanager,
    "alertmanager-api": render_alertmanager_api,
    "slack": render_slack,
}


def render_payload(alert: Alert, target: Target) -> Any:
    """The JSON value (an object; a list for Alertmanager's API) to POST to ``target``."""
    return RENDERERS[target.kind](alert, target)
