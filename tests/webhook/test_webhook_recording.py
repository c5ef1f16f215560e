"""Decisions recorded off the response path, against a real ``serve`` and a real webhook over HTTPS: the
webhook is killed with SIGKILL while answering and shipping, restarted on the same queue, and every
decision it answered arrives exactly once; the service's approved waivers let objects in and their ids
are in the audit record of what they let in; dry runs are answered and not recorded.

Every test runs on SQLite and PostgreSQL (the ``database_url`` fixture).
"""

from __future__ import annotations

import json
import os
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from admissionreviews import build_review
from recordingservices import CONFIG, Service, kill, running_service, wait_until
from webhookservers import POLICIES, Webhook, start_webhook, stop

SHIPPING = ("--ship-seconds", "0.2", "--sync-seconds", "0.3")


def _pod(name: str, *, privileged: bool = True) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    if privileged:
        container["securityContext"] = {"privileged": True}
    labels = {"team": "shop", "app.kubernetes.io/part-of": "checkout"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [container]},
    }


@pytest.fixture
def service(database_url: str, audit_keys: object, catalog_yaml: str, tmp_path: Path) -> Iterator[Service]:
    folder = tmp_path / "service"
    folder.mkdir()
    with running_service(database_url, audit_keys, catalog_yaml, folder) as running:
        yield running


def _webhook(folder: Path, service: Service) -> Webhook:
    folder.mkdir(exist_ok=True)
    (folder / "leitplanke.yaml").write_text(CONFIG)
    return start_webhook(
        folder,
        "--pack", "none", "--policies", str(POLICIES), "--config", str(folder / "leitplanke.yaml"),
        "--queue", str(folder.parent / "queue.sqlite"),
        "--service-url", service.url, "--service-token-file", str(service.token_file()),
        *SHIPPING,
    )  # fmt: skip


def _metric(webhook: Webhook, name: str) -> float:
    status, body = webhook.request("GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def test_every_decision_answered_before_a_sigkill_is_recorded_exactly_once(
    service: Service, tmp_path: Path
) -> None:
    webhook = _webhook(tmp_path / "first", service)
    answered: list[str] = []
    sent: list[str] = []
    try:
        for number in range(400):
            uid = f"kill-{number:04d}"
            sent.append(uid)
            status, answer = webhook.review(build_review(_pod(f"web-{number}"), namespace="shop", uid=uid))
            assert (status, answer["response"]["allowed"]) == (200, False)
            answered.append(uid)
            if number == 150:
                os.kill(webhook.process.pid, 9)  # mid-stream: answering and shipping at once
                break
    except (OSError, ssl.SSLError, json.JSONDecodeError):
        pass  # the request in flight when the process died has no answer
    kill(webhook.process)
    restarted = _webhook(tmp_path / "second", service)
    try:
        wait_until(lambda: set(answered) <= set(service.recorded()), what="the queued decisions to arrive")
        wait_until(
            lambda: _metric(restarted, "leitplanke_admission_shipped_decisions_total") > 0, what="a ship"
        )
    finally:
        stop(restarted)
    recorded = service.recorded()
    assert set(answered) <= set(recorded)
    assert set(recorded) - set(answered) <= set(sent[len(answered) :][:1])  # at most the one in flight
    targets = [target for target, _ in service.audited()]
    assert targets == sorted(set(targets), key=targets.index)  # no decision audited twice
    assert sorted(targets) == [f"admission:{uid}" for uid in recorded]


def test_an_approved_service_waiver_lets_its_object_in_and_is_named_in_the_audit_record(
    service: Service, tmp_path: Path
) -> None:
    expires = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    status, requested = service.call(
        "POST",
        "/api/v1/waivers",
        "shop-dev",
        {
            "app": "checkout",
            "env": "prod",
            "policies": ["no-privileged"],
            "resources": [{"kind": "Pod", "namespace": "shop", "name": "web-waived"}],
            "justification": "a debugging pod for an incident",
            "expires": expires,
        },
    )
    assert status == 201
    status, _ = service.call("POST", f"/api/v1/waivers/{requested['id']}/approve", "shop-approver", {})
    assert status == 200
    waiver = f"waiver-{requested['id']}"
    webhook = _webhook(tmp_path / "webhook", service)
    try:
        wait_until(
            lambda: _metric(webhook, "leitplanke_admission_service_waivers") == 1.0, what="the waiver sync"
        )
        waived = build_review(_pod("web-waived"), namespace="shop", uid="uid-waived")
        assert webhook.review(waived)[1]["response"] == {"uid": "uid-waived", "allowed": True}
        other = build_review(_pod("web-other"), namespace="shop", uid="uid-other")
        assert webhook.review(other)[1]["response"]["allowed"] is False
        dry = build_review(_pod("web-dry"), namespace="shop", uid="uid-dry", dry_run=True)
        assert webhook.review(dry)[1]["response"]["allowed"] is False
        clean = build_review(_pod("web-clean", privileged=False), namespace="shop", uid="uid-clean")
        assert webhook.review(clean)[1]["response"] == {"uid": "uid-clean", "allowed": True}
        wait_until(lambda: service.recorded() == ["uid-other", "uid-waived"], what="the two decisions")
    finally:
        stop(webhook)
    audited = {target: details for target, details in service.audited()}
    assert sorted(audited) == ["admission:uid-other", "admission:uid-waived"]
    assert (audited["admission:uid-waived"]["outcome"], audited["admission:uid-waived"]["waivers"]) == (
        "allow",
        [waiver],
    )
    assert (audited["admission:uid-other"]["outcome"], audited["admission:uid-other"]["waivers"]) == (
        "deny",
        [],
    )
    assert audited["admission:uid-waived"]["results"] == [
        {
            "policy": "no-privileged",
            "rule": "unprivileged",
            "verdict": "skip",
            "path": "spec.containers[0].securityContext.privileged",
            "waiver": waiver,
        }
    ]
    assert service.findings() == [
        ("no-privileged", "web-other", "new", ""),
        ("no-privileged", "web-waived", "waived", waiver),
    ]


def test_a_graceful_stop_ships_what_is_queued_before_the_process_ends(
    service: Service, tmp_path: Path
) -> None:
    folder = tmp_path / "webhook"
    folder.mkdir()
    (folder / "leitplanke.yaml").write_text(CONFIG)
    webhook = start_webhook(
        folder,
        "--pack", "none", "--policies", str(POLICIES), "--config", str(folder / "leitplanke.yaml"),
        "--queue", str(tmp_path / "queue.sqlite"),
        "--service-url", service.url, "--service-token-file", str(service.token_file()),
        "--ship-seconds", "3600",  # after its first (empty) round the shipper sleeps: only the stop ships
    )  # fmt: skip
    try:
        for uid in ("stop-1", "stop-2", "stop-3"):
            assert webhook.review(build_review(_pod(uid), namespace="shop", uid=uid))[0] == 200
        assert service.recorded() == []
    finally:
        stop(webhook)  # SIGTERM
    assert service.recorded() == ["stop-1", "stop-2", "stop-3"]
