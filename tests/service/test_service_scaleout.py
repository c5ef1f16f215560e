"""Scale-out on PostgreSQL: three real ``leitplanke serve`` processes share one database and one set of
audit keys; concurrent uploads (several of one scope at once, in both formats), waiver requests and
approvals and CLI token creations leave one valid audit chain with exactly one record per write, and
every finding once, its last scan the one that last reported it.

PostgreSQL only: the PostgreSQL case of the ``database_url`` fixture (a fresh schema; skipped when the
database is unreachable, failed with CI=true).
"""

from __future__ import annotations

import collections
import http.client
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import serviceprocesses
from sqlalchemy import text

import leitplanke
from leitplanke import catalog
from leitplanke.core.results import Result, ScanReport
from leitplanke.governance import access, findings, uploadformats, uploadrendering
from leitplanke.reports import jsonreports
from leitplanke.settings import DEFAULT_SLA_DAYS
from leitplanke.store import auditrecords, databases

LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))
# the servers run the code under test (the tests' own import path), not whatever the venv installed
SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])
SERVERS = 3
SHARED = [f"web-{n}" for n in range(5)]  # reported by every upload of a scope; each adds one of its own
HELD = [f"hold-{n}" for n in range(SERVERS)]  # checkout in dev, seeded: one waiver each
PHASE_ACTIONS = {
    "scan.ingested": 9,  # six uploads of checkout in prod, three of warehouse in prod
    "waiver.requested": 3,
    "waiver.approved": 3,
    "finding.status": 3,  # each approval waives one finding of checkout in dev
    "token.created": 2,  # two `leitplanke tokens create` processes
}
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int

    def call(self, method: str, path: str, token: str, body: bytes = b"", media: str = "") -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": media or "application/json"}
        connection.request(method, path, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())


@dataclass
class Seeded:
    url: str
    database: databases.Database
    tokens: dict[str, str]
    records: int  # audit records before the servers write
    held_scan: int


def _environment(url: str, data_dir: Path) -> dict[str, str]:
    """The test's environment (the audit_keys fixture's LEITPLANKE_AUDIT_* variables) on ``url``."""
    return {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": url,
        "LEITPLANKE_DATA_DIR": str(data_dir),
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }


def _failing(name: str) -> Result:
    from leitplanke.core.policies import Severity
    from leitplanke.core.results import Location, Resource, Verdict

    return Result(
        policy="no-privileged",
        rule="privileged",
        resource=Resource("apps/v1", "Deployment", "shop", name),
        verdict=Verdict.FAIL,
        severity=Severity.parse("high"),
        message=f"{name} runs privileged",
        location=Location(file=f"{name}.yaml", line=1, path="spec.template.spec.containers[0]"),
    )


def _json_upload(app: str, env: str, names: list[str]) -> tuple[bytes, str]:
    """The old upload: ``{"app", "env", "scan": <scan -f json report>}``."""
    out = io.StringIO()
    report = ScanReport(results=[_failing(name) for name in names], documents=len(names)).finish()
    jsonreports.write(report, out, now=datetime.now(UTC))
    body = {"app": app, "env": env, "scan": json.loads(out.getvalue())}
    return json.dumps(body).encode(), "application/json"


def _compact_upload(app: str, env: str, names: list[str]) -> tuple[bytes, str]:
    """``leitplanke.dev/upload/v2``: a header line, then one line per failing result."""
    stamp = datetime.now(UTC).isoformat()
    header = uploadrendering.render_header(app=app, env=env, generated_at=stamp, summary={})
    lines = b"".join(uploadrendering.render_result(_failing(name)) for name in names)
    return header + lines, uploadformats.MEDIA_TYPE


@pytest.fixture
def seeded(database_url: str, audit_keys: object, catalog_yaml: str) -> Iterator[Seeded]:
    """The schema migrated, the test catalog, three tokens and a scan of checkout in dev (one finding per
    HELD name), all before any server starts."""
    database = databases.Database(database_url, audit=audit_keys)
    databases.upgrade(database)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    now = datetime.now(UTC)
    catalog.apply_catalog(database, parsed, actor="test", now=now)
    tokens = {
        who: access.create_token(
            database, subject=f"user:{who}", name=who, role=role, team=team, actor="test", now=now
        ).token
        for who, role, team in (
            ("shop-dev", "developer", "team-shop"),
            ("shop-approver", "approver", "team-shop"),
            ("data-dev", "developer", "team-data"),
        )
    }
    held = findings.ingest_scan(
        database,
        app="checkout",
        env="dev",
        results=[_failing(name) for name in HELD],
        summary={},
        generated_at="",
        actor="test",
        now=now,
        sla_days=DEFAULT_SLA_DAYS,
    )
    with database.reading() as session:
        records = auditrecords.count_audit_records(session)
    try:
        yield Seeded(database_url, database, tokens, records, held.scan_id)
    finally:
        database.dispose()


@pytest.fixture
def servers(seeded: Seeded, tmp_path: Path) -> Iterator[list[Server]]:
    """Three ``leitplanke serve`` processes on free loopback ports, one database URL, one set of keys."""
    started: list[Server] = []
    try:
        for number in range(SERVERS):
            data_dir = tmp_path / f"server-{number}"
            data_dir.mkdir()
            port = serviceprocesses.free_port()
            process = subprocess.Popen(
                [LEITPLANKE, "serve", "--port", str(port)],
                cwd=data_dir,
                env=_environment(seeded.url, data_dir),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            started.append(Server(process, port))
        deadline = time.monotonic() + 60
        while not all(serviceprocesses.healthy(server.port) for server in started):
            assert all(server.process.poll() is None for server in started), "a server exited"
            assert time.monotonic() < deadline, "the servers did not answer /healthz within 60 s"
            time.sleep(0.1)
        yield started
    finally:
        for server in started:
            server.process.terminate()
        for server in started:
            try:
                server.process.wait(20)
            except subprocess.TimeoutExpired:
                server.process.kill()


def _run_at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Every job in a thread of its own, released together."""
    barrier = threading.Barrier(len(jobs))

    def released(job: Callable[[], Any]) -> Any:
        barrier.wait(30)
        return job()

    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(released, jobs))


def _upload_jobs(servers: list[Server], seeded: Seeded) -> list[Callable[[], Any]]:
    """Six uploads of checkout in prod (two per server, the two formats) and three of warehouse in prod;
    each reports SHARED and a name of its own (``<app>-<n>``)."""
    jobs = []
    scopes = [("checkout", "shop-dev", n) for n in range(6)] + [
        ("warehouse", "data-dev", n) for n in range(3)
    ]
    for app, who, n in scopes:
        build = _compact_upload if n % 2 else _json_upload
        body, media = build(app, "prod", [*SHARED, f"{app}-{n}"])
        server = servers[n % SERVERS]

        def upload(server: Server = server, body: bytes = body, media: str = media, who: str = who) -> Any:
            return server.call("POST", "/api/v1/scans", seeded.tokens[who], body, media)

        jobs.append(upload)
    return jobs


def _waiver_jobs(servers: list[Server], seeded: Seeded) -> list[Callable[[], Any]]:
    """One waiver per HELD name: requested on one server by the developer, approved on the next one by the
    approver."""
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    jobs = []
    for n, name in enumerate(HELD):

        def waive(n: int = n, name: str = name) -> Any:
            request = {
                "app": "checkout",
                "env": "dev",
                "policies": ["no-privileged"],
                "resources": [{"kind": "Deployment", "namespace": "shop", "name": name}],
                "justification": f"{name} needs the host network for now",
                "expires": expires,
            }
            body = json.dumps(request).encode()
            status, waiver = servers[n].call("POST", "/api/v1/waivers", seeded.tokens["shop-dev"], body)
            assert status == 201, waiver
            path = f"/api/v1/waivers/{waiver['id']}/approve"
            approver = servers[(n + 1) % SERVERS]
            return approver.call("POST", path, seeded.tokens["shop-approver"], b'{"note": "ok"}')

        jobs.append(waive)
    return jobs


def _token_jobs(seeded: Seeded, tmp_path: Path) -> list[Callable[[], Any]]:
    """Two ``leitplanke tokens create`` processes: the service has no route that creates tokens."""
    jobs = []
    for n in range(2):
        command = [
            *(LEITPLANKE, "tokens", "create", "--subject", f"service:extra-{n}", "--role", "viewer"),
            *("--team", "team-shop", "--name", f"extra-{n}", "--database", seeded.url),
        ]

        def create(command: list[str] = command) -> Any:
            env = _environment(seeded.url, tmp_path)
            return subprocess.run(command, capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path)

        jobs.append(create)
    return jobs


def _scope_findings(seeded: Seeded, app: str, env: str) -> dict[str, tuple[str, int]]:
    """name -> (status, last scan id) of the findings of one scope."""
    query = text(
        "SELECT f.name, f.status, f.last_scan_id FROM findings f"
        " JOIN apps a ON a.id = f.app_id JOIN environments e ON e.id = f.env_id"
        " WHERE a.name = :app AND e.name = :env"
    )
    with seeded.database.reading() as session:
        rows = session.execute(query, {"app": app, "env": env}).all()
    assert len(rows) == len({row[0] for row in rows}), rows
    return {row[0]: (row[1], row[2]) for row in rows}


def _expected_scope(app: str, scans: list[tuple[int, int]]) -> dict[str, tuple[str, int]]:
    """After uploads ``(n, scan id)`` in any order: SHARED open since the scope's second scan, the last
    upload's own name new in the latest, every other upload's own name fixed with the scan that reported
    it as its last. (A finding's row is rewritten only when it changes: a finding not fixed is reported
    by its scope's latest scan, its ``last_scan_id`` is the scan that last changed it.)"""
    ordered = sorted(scans, key=lambda upload: upload[1])
    last_n, latest = ordered[-1]
    expected = {name: ("open", ordered[1][1]) for name in SHARED}
    expected[f"{app}-{last_n}"] = ("new", latest)
    for n, scan in ordered[:-1]:
        expected[f"{app}-{n}"] = ("fixed", scan)
    return expected


def test_three_servers_writing_at_once_leave_one_valid_chain_and_every_finding_once(
    seeded: Seeded, servers: list[Server], tmp_path: Path
) -> None:
    uploads = _upload_jobs(servers, seeded)
    answers = _run_at_once(uploads + _waiver_jobs(servers, seeded) + _token_jobs(seeded, tmp_path))
    scans, decided, created = answers[:9], answers[9:12], answers[12:]

    assert [status for status, _ in scans] == [201] * 9, scans
    assert [(status, waiver["status"]) for status, waiver in decided] == [(200, "approved")] * 3, decided
    assert [(run.returncode, re.sub(r"^token \d+ ", "", run.stderr)) for run in created] == [
        (0, f"extra-{n} of service:extra-{n} (viewer of team-shop)\n") for n in range(2)
    ], created
    for app, first in (("checkout", 0), ("warehouse", 6)):
        ingested = [body for _, body in scans[first : first + (6 if app == "checkout" else 3)]]
        # each finding created exactly once, whichever server ingested first
        created_findings = sum(body["transitions"].get("none->new", 0) for body in ingested)
        assert created_findings == len(SHARED) + len(ingested), ingested
        uploaded = [(n, body["scan"]) for n, body in enumerate(ingested)]
        assert _scope_findings(seeded, app, "prod") == _expected_scope(app, uploaded)
    assert _scope_findings(seeded, "checkout", "dev") == {name: ("waived", seeded.held_scan) for name in HELD}

    with seeded.database.reading() as session:
        duplicates = session.execute(
            text(
                "SELECT app_id, env_id, fingerprint FROM findings"
                " GROUP BY app_id, env_id, fingerprint HAVING count(*) > 1"
            )
        ).all()
        latest = dict(
            session.execute(
                text(
                    "SELECT a.name, max(s.id) FROM scans s JOIN apps a ON a.id = s.app_id"
                    " JOIN environments e ON e.id = s.env_id WHERE e.name = 'prod' GROUP BY a.name"
                )
            ).all()
        )
        seqs = [row[0] for row in session.execute(text("SELECT seq FROM audit_records ORDER BY seq"))]
        phase = collections.Counter(
            row[0]
            for row in session.execute(
                text("SELECT action FROM audit_records WHERE seq > :seq"), {"seq": seeded.records}
            )
        )
    assert duplicates == []
    assert latest == {
        "checkout": max(body["scan"] for _, body in scans[:6]),
        "warehouse": max(body["scan"] for _, body in scans[6:]),
    }
    total = seeded.records + sum(PHASE_ACTIONS.values())
    assert seqs == list(range(1, total + 1))
    assert dict(phase) == PHASE_ACTIONS

    verified = subprocess.run(
        [LEITPLANKE, "audit", "verify", "--full", "--database", seeded.url],
        capture_output=True,
        text=True,
        timeout=60,
        env=_environment(seeded.url, tmp_path),
        cwd=tmp_path,
    )
    assert verified.returncode == 0, verified.stderr
    assert re.fullmatch(
        rf"audit chain intact: {total} records \({total} checked, full\), head [0-9a-f]{{64}}, "
        rf"checkpoint at seq {total}\n",
        verified.stdout,
    ), verified.stdout
