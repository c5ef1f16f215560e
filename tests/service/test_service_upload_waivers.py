"""``leitplanke scan --waivers local.yaml --upload``: a waiver of a local file is no waiver of the
service. The real command in a subprocess uploads over real HTTP to the app served by uvicorn; the
finding is failing until an approved service waiver covers it. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from leitplanke.governance import findingviews, waivers
from leitplanke.service import create_app
from leitplanke.settings import Settings
from leitplanke.store import repositories

REPO = Path(__file__).parents[2]
MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: node-agent, namespace: monitoring}
spec:
  selector: {matchLabels: {app: node-agent}}
  template:
    metadata: {labels: {app: node-agent}}
    spec:
      hostNetwork: true
      containers: [{name: agent, image: "registry.example.com/agent:1.0"}]
"""
LOCAL_WAIVER = """\
apiVersion: leitplanke.dev/v1
kind: Waiver
metadata: {{name: node-agent-host-network}}
spec:
  policies: [disallow-host-namespaces]
  rules: [no-host-network]
  match: {{kinds: [Deployment], namespaces: [monitoring], names: [node-agent]}}
  reason: reads host network statistics
  owner: team-shop
  approver: me-myself
  expires: {expires}
"""


@pytest.fixture
def served(service: Any) -> Iterator[tuple[str, str]]:
    """(base URL, developer token of team-shop) of a second app over the service's database, on a real
    socket (the tokens of ``service`` are rows of that database)."""
    catalog_database, token = service.database, service.tokens["shop-dev"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    app = create_app(Settings(database_url=catalog_database.url), database=catalog_database)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _scan_and_upload(tmp_path: Path, url: str, token: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "deploy").mkdir(exist_ok=True)
    (tmp_path / "deploy" / "agent.yaml").write_text(MANIFEST)
    expires = (datetime.now(UTC).date() + timedelta(days=30)).isoformat()
    (tmp_path / "local-waivers.yaml").write_text(LOCAL_WAIVER.format(expires=expires))
    args = ["scan", "deploy", "--waivers", "local-waivers.yaml", "--pack", "pss-baseline", "-j", "1"]
    args += ["-f", "json", "--upload", url, "--app", "checkout", "--env", "prod", "--token", token]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    return subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _host_network(database: Any) -> tuple[str, str]:
    _, views = findingviews.list_findings(
        database,
        repositories.FindingFilter(policy="disallow-host-namespaces"),
        limit=10,
        now=datetime.now(UTC),
    )
    return {(v.rule, v.status, v.waiver) for v in views}  # type: ignore[return-value]


def test_a_local_waiver_uploaded_with_scan_counts_as_failing_until_the_service_waives_it(
    served: tuple[str, str], catalog_database: Any, tmp_path: Path
) -> None:
    url, token = served
    run = _scan_and_upload(tmp_path, url, token)
    assert run.returncode == 0, run.stderr  # locally the only failure is waived
    skips = [r for r in orjson.loads(run.stdout)["results"] if r["verdict"] == "skip"]
    assert [(r["rule"], r["waiver"]) for r in skips] == [("no-host-network", "node-agent-host-network")]
    assert _host_network(catalog_database) == {("no-host-network", "new", "")}

    now = datetime.now(UTC)
    request = waivers.WaiverRequest(
        app="checkout",
        env="prod",
        policies=("disallow-host-namespaces",),
        rules=("no-host-network",),
        resources=(waivers.ResourceRef("Deployment", "node-agent", "monitoring"),),
        justification="reads host network statistics",
        expires=now + timedelta(days=30),
    )
    view = waivers.request_waiver(catalog_database, request, actor="token:shop-dev", now=now, max_days=90)
    waivers.decide_waiver(catalog_database, view.id, approve=True, note="", actor="token:lead", now=now)
    assert _host_network(catalog_database) == {("no-host-network", "waived", view.name)}

    again = _scan_and_upload(tmp_path, url, token)
    assert again.returncode == 0, again.stderr
    assert _host_network(catalog_database) == {("no-host-network", "waived", view.name)}


def test_the_upload_answer_names_the_local_waiver_the_service_does_not_know(
    served: tuple[str, str], catalog_database: Any, tmp_path: Path
) -> None:
    from leitplanke.cli import uploading
    from leitplanke.core.policies import Severity
    from leitplanke.core.results import Location, Resource, Result, ScanReport, Verdict

    url, token = served
    skipped = Result(
        policy="disallow-host-namespaces",
        rule="no-host-network",
        resource=Resource("apps/v1", "Deployment", "monitoring", "node-agent"),
        verdict=Verdict.SKIP,
        severity=Severity.parse("high"),
        message="waived locally",
        location=Location("deploy/agent.yaml", 9, "spec.template.spec.hostNetwork"),
        waiver="node-agent-host-network",
    )
    report = ScanReport(results=[skipped], documents=1).finish()
    answer = uploading.upload_report(
        report, url=url, app="checkout", env="prod", token=token, now=datetime.now(UTC)
    )
    assert (answer["transitions"], answer["unrecognisedWaivers"]) == (
        {"none->new": 1},
        ["node-agent-host-network"],
    )
