"""Delivery events as values, parsed from what the tools send: Argo CD notifications (on-deployed,
on-sync-failed), Flux notification-controller events, a generic CI webhook and Alertmanager's webhook.

Pure: JSON already decoded in, ``DeploymentEvent`` / ``IncidentEvent`` values out, or ``Invalid``
naming the field at fault. ``service.delivering`` calls these; ``deployments`` and ``incidents`` store them.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from leitplanke.governance import errors

SUCCEEDED, FAILED = "succeeded", "failed"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_REVISION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/-]{0,99}$")
MAX_COMMITS = 1000
MAX_ALERTS = 1000
# Alertmanager labels that name the app and the environment, first found wins
APP_LABELS = ("leitplanke_app", "app", "application", "service")
ENV_LABELS = ("leitplanke_env", "env", "environment")
# labels on an Argo CD Application (and keys of a Flux Alert's eventMetadata) that name app and env
APP_LABEL, ENV_LABEL = "leitplanke.dev/app", "leitplanke.dev/env"
_FLUX_SUCCEEDED = frozenset({"ReconciliationSucceeded", "InstallSucceeded", "UpgradeSucceeded"})


@dataclass(frozen=True, slots=True)
class CommitTime:
    sha: str
    committed_at: datetime


@dataclass(frozen=True, slots=True)
class DeploymentEvent:
    source: str  # argocd | flux | ci | gitops
    app: str
    env: str
    revision: str
    status: str  # succeeded | failed
    time: datetime | None  # when it went live (or failed); None: when received
    rollback: bool = False
    commits: tuple[CommitTime, ...] | None = None  # None: read from the app's Git history


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    key: str  # the same notification twice has the same key
    app: str
    env: str
    title: str
    opened_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class Skipped:
    index: int
    reason: str


def parse_argocd(payload: Any) -> DeploymentEvent:
    """``{"trigger": "on-deployed" | "on-sync-failed", "application": <the Application>}``."""
    body = _object(payload, "body")
    trigger = _string(body, "trigger", field="trigger")
    if trigger not in ("on-deployed", "on-sync-failed"):
        raise errors.Invalid(f"trigger {trigger!r}: expected on-deployed or on-sync-failed", field="trigger")
    application = _object(body.get("application"), "application")
    metadata = _object(application.get("metadata"), "application.metadata")
    labels = _object(metadata.get("labels", {}), "application.metadata.labels")
    status = _object(application.get("status"), "application.status")
    operation = _object(status.get("operationState", {}), "application.status.operationState")
    result = _object(operation.get("syncResult", {}), "application.status.operationState.syncResult")
    sync = _object(status.get("sync", {}), "application.status.sync")
    revision = result.get("revision") or sync.get("revision")
    field = "application.status.operationState.syncResult.revision"
    return DeploymentEvent(
        source="argocd",
        app=_name(labels.get(APP_LABEL) or metadata.get("name"), field="application.metadata.name"),
        env=_name(labels.get(ENV_LABEL), field=f"application.metadata.labels.{ENV_LABEL}"),
        revision=_revision(revision, field=field),
        status=SUCCEEDED if trigger == "on-deployed" else FAILED,
        time=_optional_time(
            operation.get("finishedAt"), field="application.status.operationState.finishedAt"
        ),
    )


def parse_flux(payload: Any) -> DeploymentEvent | None:
    """A notification-controller event (the ``generic`` and ``generic-hmac`` providers); None for one
    that is neither a success nor an error (progress)."""
    body = _object(payload, "body")
    involved = _object(body.get("involvedObject"), "involvedObject")
    metadata = _object(body.get("metadata", {}), "metadata")
    severity = _string(body, "severity", field="severity")
    reason = _string(body, "reason", field="reason")
    if severity == "error":
        status = FAILED
    elif reason in _FLUX_SUCCEEDED:
        status = SUCCEEDED
    else:
        return None
    # ``<controller group>/revision`` (kustomize.toolkit.fluxcd.io/revision), or plain ``revision``
    key = next((k for k in sorted(metadata) if k == "revision" or k.endswith("/revision")), "revision")
    revision = _flux_revision(_string(metadata, key, field=f"metadata.{key}"))
    return DeploymentEvent(
        source="flux",
        app=_name(
            metadata.get(APP_LABEL) or metadata.get("app") or involved.get("name"), field="metadata.app"
        ),
        env=_name(metadata.get(ENV_LABEL) or metadata.get("env"), field="metadata.env"),
        revision=_revision(revision, field="metadata.revision"),
        status=status,
        time=_time(body.get("timestamp"), field="timestamp"),
    )


def _flux_revision(text: str) -> str:
    """``main@sha1:<sha>`` (Flux 2.x), ``main/<sha>`` (older) or ``sha1:<sha>`` → the commit's sha."""
    text = text.rpartition("@")[2] if "@" in text else text
    text = text.partition(":")[2] if text.startswith(("sha1:", "sha256:")) else text
    return text.rpartition("/")[2] if "/" in text else text


def parse_ci(payload: Any) -> DeploymentEvent:
    """``{app, env, revision, status, time}``; optional ``rollback`` and ``commits: [{sha, time}]``."""
    body = _object(payload, "body")
    unknown = sorted(set(body) - {"app", "env", "revision", "status", "time", "rollback", "commits"})
    if unknown:
        raise errors.Invalid(f"unknown field {unknown[0]!r}", field=unknown[0])
    status = _string(body, "status", field="status")
    statuses = {"succeeded": SUCCEEDED, "success": SUCCEEDED, "failed": FAILED, "failure": FAILED}
    if status not in statuses:
        raise errors.Invalid(f"status {status!r}: expected succeeded or failed", field="status")
    rollback = body.get("rollback", False)
    if not isinstance(rollback, bool):
        raise errors.Invalid("rollback: expected true or false", field="rollback")
    time = _time(body.get("time"), field="time")
    return DeploymentEvent(
        source="ci",
        app=_name(body.get("app"), field="app"),
        env=_name(body.get("env"), field="env"),
        revision=_revision(body.get("revision"), field="revision"),
        status=statuses[status],
        time=time,
        rollback=rollback,
        commits=None if "commits" not in body else _commits(body["commits"], before=time),
    )


def _commits(value: Any, *, before: datetime) -> tuple[CommitTime, ...]:
    if not isinstance(value, list) or len(value) > MAX_COMMITS:
        raise errors.Invalid(f"commits: expected a list of at most {MAX_COMMITS}", field="commits")
    commits = []
    for index, item in enumerate(value):
        entry = _object(item, f"commits[{index}]")
        sha = _revision(entry.get("sha"), field=f"commits[{index}].sha")
        committed = _time(entry.get("time"), field=f"commits[{index}].time")
        if committed > before:
            raise errors.Invalid(
                "a commit cannot be younger than its deployment", field=f"commits[{index}].time"
            )
        commits.append(CommitTime(sha=sha, committed_at=committed))
    return tuple(commits)


def parse_alertmanager(payload: Any) -> tuple[list[IncidentEvent], list[Skipped]]:
    """Alertmanager's webhook (version 4): each alert with an app and an env label is an incident, opened
    at ``startsAt``, resolved at ``endsAt`` when its status is resolved; the others are skipped."""
    body = _object(payload, "body")
    alerts = body.get("alerts")
    if not isinstance(alerts, list) or len(alerts) > MAX_ALERTS:
        raise errors.Invalid(f"alerts: expected a list of at most {MAX_ALERTS}", field="alerts")
    incidents, skipped = [], []
    for index, item in enumerate(alerts):
        where = f"alerts[{index}]"
        alert = _object(item, where)
        labels = _object(alert.get("labels", {}), f"{where}.labels")
        annotations = _object(alert.get("annotations", {}), f"{where}.annotations")
        app = next((labels[k] for k in APP_LABELS if isinstance(labels.get(k), str)), None)
        env = next((labels[k] for k in ENV_LABELS if isinstance(labels.get(k), str)), None)
        if app is None or env is None:
            skipped.append(Skipped(index, "no app or env label"))
            continue
        state = _string(alert, "status", field=f"{where}.status")
        if state not in ("firing", "resolved"):
            raise errors.Invalid(f"status {state!r}: expected firing or resolved", field=f"{where}.status")
        opened = _time(alert.get("startsAt"), field=f"{where}.startsAt")
        fingerprint = alert.get("fingerprint") or _fingerprint(labels)
        title = annotations.get("summary") or labels.get("alertname") or "alert"
        incidents.append(
            IncidentEvent(
                key=f"alertmanager:{fingerprint}:{opened.isoformat()}"[:300],
                app=_name(app, field=f"{where}.labels.app"),
                env=_name(env, field=f"{where}.labels.env"),
                title=str(title)[:500],
                opened_at=opened,
                resolved_at=_time(alert.get("endsAt"), field=f"{where}.endsAt")
                if state == "resolved"
                else None,
            )
        )
    return incidents, skipped


def _fingerprint(labels: Mapping[str, Any]) -> str:
    text = "\n".join(f"{k}={labels[k]}" for k in sorted(labels))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _object(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise errors.Invalid(f"{field}: expected an object", field=field)
    return value


def _string(body: Mapping[str, Any], key: str, *, field: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise errors.Invalid(f"{field}: expected a non-empty string", field=field)
    return value


def _name(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise errors.Invalid(f"{field}: expected a name (letters, digits, . _ -)", field=field)
    return value


def _revision(value: Any, *, field: str) -> str:
    if not isinstance(value, str) or not _REVISION.match(value):
        raise errors.Invalid(f"{field}: expected a revision (a commit sha or a tag)", field=field)
    return value


def _time(value: Any, *, field: str) -> datetime:
    if not isinstance(value, str):
        raise errors.Invalid(f"{field}: expected an RFC 3339 time", field=field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise errors.Invalid(f"{field}: {value[:40]!r} is not an RFC 3339 time", field=field) from None
    if parsed.tzinfo is None:
        raise errors.Invalid(f"{field}: the time needs a zone (Z or +hh:mm)", field=field)
    if parsed.year < 2000 or parsed.year > 9000:  # Alertmanager's endsAt of a firing alert: 0001-01-01
        raise errors.Invalid(f"{field}: {value[:40]!r} is out of range", field=field)
    return parsed.astimezone(UTC)


def _optional_time(value: Any, *, field: str) -> datetime | None:
    return None if value in (None, "") else _time(value, field=field)
