"""Alerts through the outbox, on SQLite and PostgreSQL, to a real HTTP receiver: the exact payloads
of each target format, retries with backoff, restarts that resume pending alerts and never resend
sent ones, sweeps that queue each breach once, and alerts that exist only if their cause committed."""

from __future__ import annotations

import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from leitplanke.alerts import HttpTransport, parse_targets
from leitplanke.core.results import ScanReport
from leitplanke.governance import access, alerting, findings, relaying
from leitplanke.reports import jsonreports
from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store import alertoutbox, auditrecords, databases, repositories
from leitplanke.store.rows import Waiver

T0 = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)  # the clock fixture's start
Receiver = Clock = Any  # the fixtures of conftest.py


def _settings(database: Any, receiver: Receiver, kinds: tuple[str, ...] = ("alertmanager",)) -> Settings:
    targets = [{"name": f"ops-{kind}", "type": kind, "url": f"{receiver.url}/{kind}"} for kind in kinds]
    return Settings(
        database_url=database.url,
        alert_targets=parse_targets(json.dumps(targets)),
        alert_poll_seconds=0.02,
        alert_retry_seconds=60,
    )


@contextmanager
def _service(settings: Settings, database: Any, clock: Clock) -> Iterator[TestClient]:
    app = create_app(settings, database=database, clock=clock)
    with TestClient(app) as client:
        yield client


def _token(database: Any) -> dict[str, str]:
    created = access.create_token(
        database, subject="service:ci", name="ci", role="platform-admin", team=None, actor="test", now=T0
    )
    return {"Authorization": f"Bearer {created.token}"}


def _upload(client: TestClient, headers: dict[str, str], results: list[Any]) -> None:
    out = io.StringIO()
    jsonreports.write(ScanReport(results=results, documents=len(results)).finish(), out, now=T0)
    body = {"app": "checkout", "env": "prod", "scan": json.loads(out.getvalue())}
    response = client.post("/api/v1/scans", json=body, headers=headers)
    assert response.status_code == 201, response.text


def _wait_until(check: Callable[[], bool], *, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _outbox(database: Any) -> list[tuple[str, str, str, int]]:
    with database.reading() as session:
        return [(r.key, r.target, r.status, r.attempts) for r in alertoutbox.list_all(session)]


def _fingerprint(labels: dict[str, str]) -> str:
    text = "\x1f".join(f"{k}\x1e{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


LABELS = {
    "alertname": "LeitplankeNewCriticalFinding",
    "app": "checkout",
    "env": "prod",
    "policy": "no-privileged",
    "resource": "Deployment/shop/web",
    "rule": "containers",
    "severity": "critical",
    "team": "team-shop",
}
SUMMARY = "new critical finding in checkout (prod): no-privileged/containers on Deployment/shop/web"
ANNOTATIONS = {
    "description": "no-privileged/containers on web",
    "path": "spec.template.spec.containers[0]",
    "summary": SUMMARY,
}
LINK = "http://127.0.0.1:8080/api/v1/findings?app=checkout&env=prod&severity=critical&status=new"
STARTS = "2026-02-01T12:00:00.000000Z"


def test_a_new_critical_finding_reaches_every_target_in_its_own_format(
    catalog_database: Any, receiver: Receiver, clock: Clock, result: Any
) -> None:
    settings = _settings(catalog_database, receiver, ("alertmanager", "slack", "webhook"))
    headers = _token(catalog_database)
    with _service(settings, catalog_database, clock) as client:
        _upload(
            client,
            headers,
            [
                result("no-privileged", "containers", "web", severity="critical"),
                result("probes", "liveness", "web", severity="high"),
                result("no-privileged", "containers", "api", severity="critical", verdict="pass"),
            ],
        )
        got = receiver.wait_for(3)
        time.sleep(0.2)  # nothing else arrives
    assert len(receiver.received) == 3
    by_path = {item.path: item for item in got}
    key = next(k for k, *_ in _outbox(catalog_database))
    assert {item.headers["Idempotency-Key"] for item in got} == {
        f"{key}@ops-alertmanager",
        f"{key}@ops-slack",
        f"{key}@ops-webhook",
    }
    assert by_path["/alertmanager"].body == {
        "version": "4",
        "groupKey": '{}:{alertname="LeitplankeNewCriticalFinding"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ops-alertmanager",
        "groupLabels": {"alertname": "LeitplankeNewCriticalFinding"},
        "commonLabels": LABELS,
        "commonAnnotations": ANNOTATIONS,
        "externalURL": "http://127.0.0.1:8080",
        "alerts": [
            {
                "status": "firing",
                "labels": LABELS,
                "annotations": ANNOTATIONS,
                "startsAt": STARTS,
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": LINK,
                "fingerprint": _fingerprint(LABELS),
            }
        ],
    }
    assert by_path["/slack"].body == {
        "text": f":rotating_light: [CRITICAL] {SUMMARY}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*LeitplankeNewCriticalFinding*\n:rotating_light: [CRITICAL] {SUMMARY}",
                    "verbatim": True,
                },
            },
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": "no-privileged/containers on web", "verbatim": True},
            },
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "app=checkout, env=prod, policy=no-privileged, "
                        "resource=Deployment/shop/web, rule=containers, team=team-shop",
                        "verbatim": True,
                    }
                ],
            },
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"<{LINK.replace('&', '&amp;')}|details>", "verbatim": True}
                ],
            },
        ],
    }
    assert by_path["/webhook"].body == {
        "version": "1",
        "receiver": "ops-webhook",
        "key": key,
        "alert": {
            "name": "LeitplankeNewCriticalFinding",
            "status": "firing",
            "severity": "critical",
            "summary": SUMMARY,
            "labels": LABELS,
            "annotations": ANNOTATIONS,
            "startsAt": STARTS,
            "endsAt": None,
            "generatorURL": LINK,
            "fingerprint": _fingerprint(LABELS),
        },
    }
    assert sorted(_outbox(catalog_database)) == [
        (key, "ops-alertmanager", "sent", 1),
        (key, "ops-slack", "sent", 1),
        (key, "ops-webhook", "sent", 1),
    ]


def test_a_refusing_receiver_is_retried_with_exponential_backoff_until_it_accepts(
    catalog_database: Any, receiver: Receiver, clock: Clock, result: Any
) -> None:
    receiver.refuse_next = 2
    with _service(_settings(catalog_database, receiver), catalog_database, clock) as client:
        _upload(
            client,
            _token(catalog_database),
            [result("no-privileged", "containers", "web", severity="critical")],
        )
        _wait_until(lambda: len(receiver.refused) == 1)
        clock.advance(seconds=59)  # the first retry waits 60 s
        time.sleep(0.3)
        assert len(receiver.refused) == 1
        clock.advance(seconds=1)
        _wait_until(lambda: len(receiver.refused) == 2)
        clock.advance(seconds=119)  # the second waits twice as long
        time.sleep(0.3)
        assert (len(receiver.refused), len(receiver.received)) == (2, 0)
        clock.advance(seconds=1)
        receiver.wait_for(1)
        time.sleep(0.2)
    assert [item.body["alerts"][0]["labels"]["resource"] for item in receiver.received] == [
        "Deployment/shop/web"
    ]
    assert [status for _, _, status, _ in _outbox(catalog_database)] == ["sent"]
    assert [attempts for *_, attempts in _outbox(catalog_database)] == [3]


def test_backoff_doubles_up_to_its_cap_and_gives_up_after_the_last_attempt() -> None:
    policy = relaying.RetryPolicy(first_seconds=5, max_seconds=30, max_attempts=6)
    assert [policy.delay(n) for n in range(1, 7)] == [5, 10, 20, 30, 30, None]


def test_a_restart_sends_the_pending_alerts_and_never_resends_the_sent_ones(
    catalog_database: Any, receiver: Receiver, clock: Clock, result: Any
) -> None:
    settings = _settings(catalog_database, receiver)
    headers = _token(catalog_database)
    web = result("no-privileged", "containers", "web", severity="critical")
    api = result("no-privileged", "containers", "api", severity="critical")
    with _service(settings, catalog_database, clock) as client:
        _upload(client, headers, [web])
        receiver.wait_for(1)
        receiver.refuse_next = 1000  # the receiver goes down
        _upload(client, headers, [web, api])
        _wait_until(lambda: len(receiver.refused) == 1)
    assert sorted(status for _, _, status, _ in _outbox(catalog_database)) == ["pending", "sent"]
    receiver.refuse_next = 0
    clock.advance(seconds=61)
    for _ in range(2):  # a new instance on a new connection to the same database, twice
        restarted = databases.Database(catalog_database.url, audit=catalog_database.audit)
        try:
            with _service(settings, restarted, clock):
                receiver.wait_for(2)
                time.sleep(0.3)
        finally:
            restarted.dispose()
    resources = [item.body["alerts"][0]["labels"]["resource"] for item in receiver.received]
    assert resources == ["Deployment/shop/web", "Deployment/shop/api"]
    assert sorted(status for _, _, status, _ in _outbox(catalog_database)) == ["sent", "sent"]


def _ingest(database: Any, results: list[Any], *, outbox: alerting.Outbox | None = None) -> None:
    findings.ingest_scan(
        database,
        app="checkout",
        env="prod",
        results=results,
        summary={},
        generated_at="",
        actor="test",
        now=T0,
        sla_days={"critical": 15, "high": 30},
        outbox=outbox,
    )


def test_an_ingestion_that_fails_queues_no_alert(
    catalog_database: Any, monkeypatch: pytest.MonkeyPatch, result: Any
) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(auditrecords, "insert_audit_records", boom)  # the last write, after the queueing
    outbox = alerting.Outbox(targets=("ops",), public_url="http://lp")
    with pytest.raises(RuntimeError):
        _ingest(
            catalog_database,
            [result("no-privileged", "containers", "web", severity="critical")],
            outbox=outbox,
        )
    assert _outbox(catalog_database) == []
    with catalog_database.reading() as session:
        assert repositories.count_findings(session) == 0


def test_sweeps_queue_each_breach_and_waiver_alert_once_and_send_them(
    catalog_database: Any, receiver: Receiver, result: Any
) -> None:
    _ingest(catalog_database, [result("probes", "liveness", "web", severity="high")])
    with catalog_database.transaction() as session:
        app = repositories.app_by_name(session, "checkout")
        env = repositories.environment_by_name(session, "prod")
        assert app is not None and env is not None
        for status, expires in (
            ("requested", T0 + timedelta(days=60)),
            ("approved", T0 + timedelta(days=34)),
        ):
            repositories.add(
                session,
                Waiver(
                    app_id=app.id,
                    env_id=env.id,
                    policies=["probes"],
                    rules=[],
                    resources=[{"kind": "Deployment", "namespace": "shop", "name": "web"}],
                    justification="legacy probe",
                    status=status,
                    requester="bob",
                    requested_at=T0,
                    expires=expires,
                ),
            )
    outbox = alerting.Outbox(targets=("ops",), public_url="http://lp")
    now = T0 + timedelta(days=30, seconds=1)
    assert alerting.sweep(catalog_database, outbox, now=now, expiry_days=7) == 3
    assert alerting.sweep(catalog_database, outbox, now=now + timedelta(hours=1), expiry_days=7) == 0
    targets = parse_targets(json.dumps([{"name": "ops", "type": "webhook", "url": receiver.url}]))
    done = relaying.relay_due(
        catalog_database, targets=targets, transport=HttpTransport(), now=now, retry=relaying.RetryPolicy()
    )
    assert (len(done.sent), done.retried, done.failed) == (3, [], [])
    summaries = sorted(item.body["alert"]["summary"] for item in receiver.received)
    assert summaries == [
        "SLA breached in checkout (prod): high finding probes/liveness on Deployment/shop/web was due 2026-03-03",
        "waiver 1 for checkout (prod) awaits approval: probes, requested by bob until 2026-04-02",
        "waiver 2 for checkout (prod) expires 2026-03-07T12:00Z: its findings reopen unless it is renewed",
    ]


def test_the_same_alert_queued_twice_is_one_row_per_target(catalog_database: Any) -> None:
    outbox = alerting.Outbox(targets=("a", "b"), public_url="http://lp")
    alert = alerting.Alert(key="k1", name="X", severity="info", summary="s", starts_at=T0)
    for _ in range(2):
        with catalog_database.transaction() as session:
            alerting.queue(session, outbox, [alert, alert], now=T0)
    assert _outbox(catalog_database) == [("k1", "a", "pending", 0), ("k1", "b", "pending", 0)]
