"""New findings of an alerting category (``drift`` by default, ``LEITPLANKE_ALERT_CATEGORIES``) alert
whatever their severity; a critical one alerts once, as a new critical finding."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from leitplanke.governance import alerting
from leitplanke.settings import load_settings

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def _row(**changes: Any) -> dict[str, Any]:
    row = {
        "fingerprint": "f1",
        "policy": "drift.deployment",
        "rule": "drifted",
        "kind": "Deployment",
        "namespace": "shop",
        "name": "web",
        "path": "",
        "severity": "medium",
        "message": "Deployment/shop/web differs from Git",
        "status": "new",
        "category": "drift",
    }
    return {**row, **changes}


def _alerts(rows: list[dict[str, Any]], categories: tuple[str, ...]) -> list[tuple[str, str, str]]:
    outbox = alerting.Outbox(targets=("ops",), public_url="http://lp", categories=categories)
    alerts = alerting.new_critical_alerts(
        rows, app="checkout", env="prod", team="shop", outbox=outbox, now=NOW
    )
    return [(a.name, a.key, a.summary) for a in alerts]


def test_a_new_drift_finding_alerts_whatever_its_severity_and_an_open_one_does_not() -> None:
    rows = [_row(), _row(fingerprint="f2", status="open"), _row(fingerprint="f3", category="Pod Security")]
    assert _alerts(rows, ("drift",)) == [
        (
            "LeitplankeNewFinding",
            "new-finding:checkout/prod/f1",
            "new drift finding in checkout (prod): drift.deployment/drifted on Deployment/shop/web",
        )
    ]
    assert _alerts(rows, ()) == []


def test_a_new_critical_drift_finding_alerts_once_as_a_new_critical_finding() -> None:
    assert [name for name, _, _ in _alerts([_row(severity="critical")], ("drift",))] == [
        "LeitplankeNewCriticalFinding"
    ]


def test_the_alerting_categories_come_from_the_environment() -> None:
    assert load_settings({}).alert_categories == ("drift",)
    assert load_settings({"LEITPLANKE_ALERT_CATEGORIES": " drift, Pod Security ,"}).alert_categories == (
        "drift",
        "Pod Security",
    )
    assert load_settings({"LEITPLANKE_ALERT_CATEGORIES": ""}).alert_categories == ()
