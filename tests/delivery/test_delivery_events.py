"""Parsing what Argo CD, Flux, CI and Alertmanager send, and the DORA bands of single figures."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from leitplanke.delivery import bands, deliveryevents
from leitplanke.delivery.deliveryevents import DeploymentEvent, IncidentEvent
from leitplanke.governance import errors

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("revision", "expected"),
    [
        (f"main@sha1:{SHA}", SHA),
        (f"main/{SHA}", SHA),
        (f"sha1:{SHA}", SHA),
        ("v1.2.3@sha256:abc", "abc"),
        (SHA, SHA),
    ],
)
def test_flux_revisions_of_every_format_become_the_commit(revision: str, expected: str) -> None:
    event = {
        "involvedObject": {"kind": "Kustomization", "name": "shop"},
        "severity": "info",
        "reason": "ReconciliationSucceeded",
        "timestamp": "2026-05-04T10:00:00Z",
        "metadata": {"kustomize.toolkit.fluxcd.io/revision": revision, "app": "checkout", "env": "prod"},
    }
    assert deliveryevents.parse_flux(event) == DeploymentEvent(
        "flux", "checkout", "prod", expected, "succeeded", datetime(2026, 5, 4, 10, tzinfo=UTC)
    )


def test_a_flux_event_without_a_revision_names_the_field() -> None:
    event = {
        "involvedObject": {"name": "shop"},
        "severity": "info",
        "reason": "ReconciliationSucceeded",
        "timestamp": "2026-05-04T10:00:00Z",
        "metadata": {"env": "prod"},
    }
    with pytest.raises(errors.Invalid) as raised:
        deliveryevents.parse_flux(event)
    assert raised.value.field == "metadata.revision"


def test_an_argocd_application_without_the_env_label_names_the_label() -> None:
    payload = {"trigger": "on-deployed", "application": {"metadata": {"name": "checkout"}, "status": {}}}
    with pytest.raises(errors.Invalid) as raised:
        deliveryevents.parse_argocd(payload)
    assert raised.value.field == "application.metadata.labels.leitplanke.dev/env"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ({"trigger": "on-created", "application": {}}, "trigger"),
        ({"trigger": "on-deployed", "application": "x"}, "application"),
    ],
)
def test_malformed_argocd_notifications_name_the_field(payload: Any, field: str) -> None:
    with pytest.raises(errors.Invalid) as raised:
        deliveryevents.parse_argocd(payload)
    assert raised.value.field == field


def test_alertmanager_labels_map_to_app_and_env_and_a_resolved_alert_carries_its_end() -> None:
    payload = {
        "alerts": [
            {
                "status": "resolved",
                "labels": {"alertname": "Down", "service": "checkout", "environment": "prod"},
                "startsAt": "2026-05-04T10:00:00.123Z",
                "endsAt": "2026-05-04T10:30:00Z",
                "fingerprint": "ab12",
            }
        ]
    }
    found, skipped = deliveryevents.parse_alertmanager(payload)
    opened = datetime(2026, 5, 4, 10, 0, 0, 123000, tzinfo=UTC)
    key = "alertmanager:ab12:2026-05-04T10:00:00.123000+00:00"
    assert (found, skipped) == (
        [IncidentEvent(key, "checkout", "prod", "Down", opened, datetime(2026, 5, 4, 10, 30, tzinfo=UTC))],
        [],
    )


@pytest.mark.parametrize(
    ("per_day", "lead", "rate", "recovery", "expected"),
    [
        (3.0, 3600.0, 0.05, 1800.0, ("elite", "elite", "elite", "elite")),
        (0.5, 2 * 86400.0, 0.10, 7200.0, ("high", "high", "high", "high")),
        (0.1, 10 * 86400.0, 0.15, 2 * 86400.0, ("medium", "medium", "medium", "medium")),
        (0.01, 40 * 86400.0, 0.40, 10 * 86400.0, ("low", "low", "low", "low")),
    ],
)
def test_each_figure_falls_in_its_dora_band(
    per_day: float, lead: float, rate: float, recovery: float, expected: tuple[str, ...]
) -> None:
    found = (
        bands.deployment_frequency(per_day),
        bands.lead_time(lead),
        bands.change_failure_rate(rate),
        bands.recovery_time(recovery),
    )
    assert found == expected
