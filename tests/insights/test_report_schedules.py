"""Scheduled reports: schedules read from the settings with every fault named; each due run delivered
once (a real SMTP server, aiosmtpd, and a loopback webhook) with a clock the tests control, on SQLite
and PostgreSQL, also when two schedulers on one database race for it; a failed delivery retried, then
recorded as failed, audited and alerted; and ``serve`` running the schedules itself."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import historydata
import prometheusservers
import pytest
import smtpservers
from sqlalchemy import select

from leitplanke.alerts import HttpTransport
from leitplanke.core.problems import UsageError
from leitplanke.insights import kpis, mailing, reportdelivering, reportruns, reportschedules
from leitplanke.settings import DEFAULT_SLA_DAYS, Settings, load_settings
from leitplanke.store import databases
from leitplanke.store.rows import AuditRecord, OutboxAlert, ReportRun

# the history ends on Monday 2026-01-26 09:00 UTC; the schedule fires on Mondays 10:30 in Berlin (09:30 UTC)
DUE = datetime(2026, 1, 26, 9, 30, tzinfo=UTC)
WEEKLY = """\
- name: weekly-org
  cron: "30 10 * * 1"
  timeZone: Europe/Berlin
  scope: org
  period: 30d
  format: md
  mailTo: [cto@example.com, lead@example.com]
"""


@pytest.fixture
def history(catalog_database: Any, result: Any) -> Any:
    historydata.ingest_history(catalog_database, result)
    return catalog_database


def _delivery(port: int) -> reportdelivering.Delivery:
    return reportdelivering.Delivery(
        smtp=mailing.Smtp("127.0.0.1", port, timeout=5),
        mail_from="leitplanke@example.com",
        transport=HttpTransport(),
        kpis=kpis.default_kpis(),
        sla_days=DEFAULT_SLA_DAYS,
        charts=False,
    )


def _run(database: Any, schedules: Any, *, now: datetime, port: int, **options: Any) -> reportruns.Ran:
    delivery = _delivery(port)

    def deliver(schedule: Any, due_at: datetime, targets: Any) -> dict[str, str]:
        return reportdelivering.deliver(database, schedule, due_at=due_at, targets=targets, delivery=delivery)

    return reportruns.run_due(database, schedules, now=now, instance="test", deliver=deliver, **options)


def _runs(database: Any) -> list[tuple[str, datetime, str, int, list[str]]]:
    with database.reading() as session:
        rows = session.scalars(select(ReportRun).order_by(ReportRun.id))
        return [(r.schedule, r.due_at, r.status, r.attempts, r.delivered) for r in rows]


def _audited(database: Any) -> list[tuple[str, str, dict[str, Any]]]:
    with database.reading() as session:
        query = select(AuditRecord).where(AuditRecord.action.like("report.%")).order_by(AuditRecord.seq)
        return [(r.action, r.target, r.details) for r in session.scalars(query)]


def test_schedules_are_read_with_every_fault_named_by_line_and_field() -> None:
    text = (
        WEEKLY + '- name: Bad\n  cron: "0 7 * *"\n  timeZone: Mars/Base\n  format: doc\n  webhook: ftp://x\n'
    )
    with pytest.raises(reportschedules.ScheduleError) as raised:
        reportschedules.parse_schedules(text, source="schedules.yaml")
    assert [p.render() for p in raised.value.problems] == [
        "schedules.yaml:8: error report-schedule [[1].name]: required: lower-case letters, digits and '-',"
        " at most 100 characters",
        "schedules.yaml:8: error report-schedule [[1].cron]: required: a cron expression of five fields"
        " (minute hour day month weekday)",
        "schedules.yaml:8: error report-schedule [[1].timeZone]: expected an IANA time zone such as Europe/Berlin",
        "schedules.yaml:8: error report-schedule [[1].format]: expected one of json, md, html, pdf",
        "schedules.yaml:8: error report-schedule [[1].webhook]: expected an http:// or https:// URL",
    ]
    (weekly,) = reportschedules.parse_schedules(WEEKLY)
    assert (weekly.mail_to, weekly.targets, weekly.span) == (
        ("cto@example.com", "lead@example.com"),
        ("mail",),
        timedelta(days=30),
    )
    # Berlin's wall clock: 10:30 is 09:30 UTC in winter, 08:30 UTC in summer
    assert weekly.due_at(DUE + timedelta(seconds=20)) == DUE
    assert weekly.next_at(DUE) == DUE + timedelta(days=7)
    assert weekly.next_at(datetime(2026, 3, 28, tzinfo=UTC)) == datetime(2026, 3, 30, 8, 30, tzinfo=UTC)


def test_the_settings_refuse_mailing_schedules_without_an_smtp_server() -> None:
    with pytest.raises(UsageError) as raised:
        load_settings({"LEITPLANKE_REPORT_SCHEDULES": WEEKLY})
    assert str(raised.value) == (
        "LEITPLANKE_REPORT_SCHEDULES: schedules weekly-org send mail: LEITPLANKE_SMTP (HOST:PORT) is unset"
    )
    settings = load_settings({"LEITPLANKE_REPORT_SCHEDULES": WEEKLY, "LEITPLANKE_SMTP": "127.0.0.1:2525"})
    assert ([s.name for s in settings.report_schedules], settings.smtp_server) == (
        ["weekly-org"],
        "127.0.0.1:2525",
    )


def test_a_due_run_is_mailed_once_recorded_and_audited(history: Any) -> None:
    schedules = reportschedules.parse_schedules(WEEKLY)
    with smtpservers.smtp_server() as server:
        before = _run(history, schedules, now=DUE - timedelta(seconds=1), port=server.port)
        first = _run(history, schedules, now=DUE + timedelta(seconds=20), port=server.port)
        again = _run(history, schedules, now=DUE + timedelta(minutes=5), port=server.port)
    assert (before.sent, first.sent, again.sent) == ([], ["weekly-org@2026-01-26T09:30:00+00:00"], [])
    (mail,) = server.messages
    attachment = next(mail.iter_attachments())
    assert (mail["To"], mail["Subject"], attachment.get_filename()) == (
        "cto@example.com, lead@example.com",
        "leitplanke report: org, 2026-01-26 (weekly-org)",
        "leitplanke-report.md",
    )
    assert attachment.get_content().splitlines()[0] == "# leitplanke report: org"
    assert _runs(history) == [("weekly-org", DUE, "sent", 1, ["mail"])]
    assert _audited(history) == [
        (
            "report.sent",
            "report-schedule:weekly-org",
            {
                "due": "2026-01-26T09:30:00Z",
                "scope": "org",
                "period": "30d",
                "format": "md",
                "delivered": ["mail"],
                "attempts": 1,
            },
        )
    ]


def test_a_firing_missed_by_more_than_the_lateness_is_skipped(history: Any) -> None:
    schedules = reportschedules.parse_schedules(WEEKLY)
    with smtpservers.smtp_server() as server:
        late = _run(history, schedules, now=DUE + timedelta(hours=2), port=server.port)
    assert (late.sent, server.raw, _runs(history)) == ([], [], [])


def test_two_schedulers_on_one_database_racing_for_a_run_send_one_mail(history: Any) -> None:
    schedules = reportschedules.parse_schedules(WEEKLY)
    other = databases.Database(history.url, audit=history.audit)  # a second replica's connections
    start = threading.Barrier(2)
    answers: dict[str, reportruns.Ran] = {}
    try:
        with smtpservers.smtp_server() as server:

            def replica(name: str, database: Any) -> None:
                start.wait()
                answers[name] = _run(database, schedules, now=DUE + timedelta(seconds=5), port=server.port)

            threads = [
                threading.Thread(target=replica, args=(n, d)) for n, d in (("a", history), ("b", other))
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(120)
    finally:
        other.dispose()
    assert len(server.raw) == 1
    assert sorted(len(ran.sent) for ran in answers.values()) == [0, 1]
    assert _runs(history) == [("weekly-org", DUE, "sent", 1, ["mail"])]
    assert [action for action, _, _ in _audited(history)] == ["report.sent"]


def test_a_failed_delivery_is_retried_then_recorded_audited_and_alerted(history: Any) -> None:
    from leitplanke.governance import alerting

    schedules = reportschedules.parse_schedules(WEEKLY)
    port = prometheusservers.free_port()  # nothing listens there yet
    policy = reportruns.RunPolicy(first_retry=timedelta(minutes=1), max_attempts=3)
    outbox = alerting.Outbox(targets=("ops",), public_url="http://leitplanke")
    at = DUE + timedelta(seconds=10)
    first = _run(history, schedules, now=at, port=port, policy=policy, outbox=outbox)
    too_soon = _run(history, schedules, now=at + timedelta(seconds=30), port=port, policy=policy)
    second = _run(history, schedules, now=at + timedelta(minutes=1), port=port, policy=policy, outbox=outbox)
    assert (first.retried, too_soon.retried, second.retried) == (
        ["weekly-org@2026-01-26T09:30:00+00:00"],
        [],
        ["weekly-org@2026-01-26T09:30:00+00:00"],
    )
    # the third attempt (two minutes after the second: the delay doubles) is the last
    third = _run(history, schedules, now=at + timedelta(minutes=3), port=port, policy=policy, outbox=outbox)
    assert third.failed == ["weekly-org@2026-01-26T09:30:00+00:00"]
    assert _runs(history) == [("weekly-org", DUE, "failed", 3, [])]
    ((action, target, details),) = _audited(history)
    assert (action, target, details["attempts"], sorted(details["errors"])) == (
        "report.failed",
        "report-schedule:weekly-org",
        3,
        ["mail"],
    )
    assert details["errors"]["mail"].startswith(f"127.0.0.1:{port}: ")
    with history.reading() as session:
        alerts = [(a.key, a.target, a.alert["name"]) for a in session.scalars(select(OutboxAlert))]
    assert alerts == [
        ("report-undelivered:weekly-org:2026-01-26T09:30:00Z", "ops", "LeitplankeReportUndelivered")
    ]


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []  # noqa: RUF012  (reset by the fixture)
    answers: list[int] = []  # noqa: RUF012

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((dict(self.headers), body))
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    _Hook.received, _Hook.answers = [], []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/reports"
    finally:
        server.shutdown()
        server.server_close()


def test_a_webhook_gets_the_report_json_and_a_retry_sends_only_what_failed(history: Any, hook: str) -> None:
    text = WEEKLY + f"  webhook: {hook}\n  headers: {{Authorization: Bearer s3cret}}\n"
    schedules = reportschedules.parse_schedules(text)
    _Hook.answers = [503]  # the first POST is refused
    with smtpservers.smtp_server() as server:
        first = _run(history, schedules, now=DUE, port=server.port)
        second = _run(history, schedules, now=DUE + timedelta(minutes=1), port=server.port)
    assert (len(first.retried), len(second.sent), len(server.raw)) == (1, 1, 1)  # mailed once
    assert len(_Hook.received) == 2
    headers, body = _Hook.received[1]
    assert (headers["Authorization"], headers["Idempotency-Key"], headers["Content-Type"]) == (
        "Bearer s3cret",
        "report:weekly-org:2026-01-26T09:30:00+00:00",
        "application/json",
    )
    report = json.loads(body)
    assert (report["scope"], report["compliance"]["recurring"][0]["policy"]) == ("org", "require-probes")
    assert _runs(history) == [("weekly-org", DUE, "sent", 2, ["mail", "webhook"])]


def test_serve_runs_the_due_schedules_in_the_background(history: Any) -> None:
    from fastapi.testclient import TestClient

    from leitplanke.service import create_app

    with smtpservers.smtp_server() as server:
        settings = Settings(
            database_url=history.url,
            migrate_on_start=False,
            report_schedules=reportschedules.parse_schedules(WEEKLY),
            smtp_server=f"127.0.0.1:{server.port}",
            report_poll_seconds=0.2,
        )
        app = create_app(settings, database=history, clock=lambda: DUE + timedelta(seconds=3))
        with TestClient(app):
            deadline = time.monotonic() + 60
            while not server.raw and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(0.5)  # more turns of the scheduler: nothing more is sent
    assert len(server.raw) == 1
    assert _runs(history) == [("weekly-org", DUE, "sent", 1, ["mail"])]


def test_report_schedules_lists_each_schedule_with_its_next_and_last_run(history: Any) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    schedules = reportschedules.parse_schedules(WEEKLY)
    with smtpservers.smtp_server() as server:
        _run(history, schedules, now=DUE, port=server.port)
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": str(root / "src"),
        "LEITPLANKE_REPORT_SCHEDULES": WEEKLY,
        "LEITPLANKE_SMTP": "127.0.0.1:2525",
    }
    command = [sys.executable, "-m", "leitplanke.cli", "report", "schedules", "--at", "2026-01-27T00:00:00"]
    command += ["--database", str(history.url)]
    done = subprocess.run(command, capture_output=True, timeout=120, env=env, cwd=root)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [
        "NAME\tCRON\tTIME ZONE\tSCOPE\tPERIOD\tFORMAT\tTARGETS\tNEXT RUN (UTC)\tLAST RUN",
        "weekly-org\t30 10 * * 1\tEurope/Berlin\torg\t30d\tmd\tcto@example.com, lead@example.com"
        "\t2026-02-02T09:30:00+00:00\t2026-01-26T09:30:00+00:00 sent",
    ]


def test_the_example_schedules_are_valid() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "examples" / "report-schedules.yaml"
    schedules = reportschedules.parse_schedules(path.read_text(encoding="utf-8"), source=str(path))
    assert [(s.name, s.scope, s.targets) for s in schedules] == [
        ("weekly-org", "org", ("mail", "webhook")),
        ("monthly-shop", "team:team-shop", ("mail",)),
    ]


def test_serve_records_an_undeliverable_report_as_failed_and_keeps_serving(history: Any) -> None:
    from fastapi.testclient import TestClient

    from leitplanke.service import create_app

    settings = Settings(
        database_url=history.url,
        migrate_on_start=False,
        report_schedules=reportschedules.parse_schedules(WEEKLY),
        smtp_server=f"127.0.0.1:{prometheusservers.free_port()}",  # nothing listens there
        report_poll_seconds=0.2,
        report_max_attempts=1,
    )
    app = create_app(settings, database=history, clock=lambda: DUE + timedelta(seconds=3))
    with TestClient(app) as client:
        deadline = time.monotonic() + 60
        while not _audited(history) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/healthz").status_code == 200
    assert _runs(history) == [("weekly-org", DUE, "failed", 1, [])]
    assert [action for action, _, _ in _audited(history)] == ["report.failed"]
