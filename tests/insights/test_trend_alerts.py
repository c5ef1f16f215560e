"""Alerts on trends (a violation recurring across apps, KPIs missing their targets) queued through the
alert outbox and relayed to a real Alertmanager (Debian's prometheus-alertmanager on loopback), which
accepts them: they are listed by its own API afterwards. On SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import json
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import historydata
import prometheusservers
import pytest

from leitplanke.alerts import HttpTransport, Target
from leitplanke.governance import alerting, relaying
from leitplanke.insights import histories, kpis, scorecards, trendalerts, trends
from leitplanke.settings import DEFAULT_SLA_DAYS

NOW = datetime.now(UTC).replace(microsecond=0)  # Alertmanager drops alerts that ended or lie far in the past


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    prometheusservers.require("prometheus-alertmanager")
    folder = tmp_path_factory.mktemp("alertmanager")
    config = folder / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    port = prometheusservers.free_port()
    args = [
        "prometheus-alertmanager",
        f"--config.file={config}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    log = (folder / "alertmanager.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(port, "/-/ready")[0] == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((folder / "alertmanager.log").read_text()[-2000:])
            time.sleep(0.2)
        yield port
    finally:
        prometheusservers.stop(process)
        log.close()


def test_trend_alerts_reach_a_real_alertmanager_once(
    catalog_database: Any, result: Any, alertmanager: int, tmp_path: Path
) -> None:
    historydata.ingest_history(catalog_database, result)
    history = histories.load_history(catalog_database, until=historydata.T + timedelta(days=21))
    found = trends.build_trends(history, since=historydata.T)
    card = scorecards.build_scorecard(
        history,
        kpis=kpis.default_kpis(),
        now=historydata.T + timedelta(days=21),
        period=timedelta(days=14),
        sla_days=DEFAULT_SLA_DAYS,
    ).as_dict()
    target = Target(name="am", kind="alertmanager-api", url=f"http://127.0.0.1:{alertmanager}/api/v2/alerts")
    outbox = alerting.Outbox.of([target], public_url="http://leitplanke.example")
    alerts = [
        *trendalerts.recurring_alerts(found, outbox=outbox, now=NOW),
        *trendalerts.kpi_alerts(card, outbox=outbox, now=NOW),
    ]
    assert trendalerts.queue_alerts(catalog_database, outbox, alerts, now=NOW) == 3
    assert trendalerts.queue_alerts(catalog_database, outbox, alerts, now=NOW) == 0  # the same day: once
    relayed = relaying.relay_due(
        catalog_database, targets=[target], transport=HttpTransport(), now=NOW, retry=relaying.RetryPolicy()
    )
    assert (sorted(key for key, _ in relayed.sent), relayed.failed) == (
        sorted(a.key for a in alerts),
        [],
    )
    status, body = _get(alertmanager, "/api/v2/alerts")
    listed = {
        (
            a["labels"]["alertname"],
            a["labels"].get("policy") or a["labels"].get("kpi"),
            a["annotations"]["summary"],
        )
        for a in json.loads(body)
        if a["annotations"].get("summary", "").endswith(("checkout, warehouse", "(org)"))
    }
    assert (status, listed) == (
        200,
        {
            (
                "LeitplankeRecurringViolation",
                "require-probes",
                "require-probes failed again after a fix in 2 apps: checkout, warehouse",
            ),
            (
                "LeitplankeKpiMissed",
                "sla-adherence",
                "Findings within their remediation SLA: 0.8333, target >= 0.95 (org)",
            ),
            (
                "LeitplankeKpiMissed",
                "waiver-ratio",
                "Failing findings covered by a waiver: 0.3333, target <= 0.05 (org)",
            ),
        },
    )
