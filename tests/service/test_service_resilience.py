"""Killing ``leitplanke serve`` with SIGKILL in the middle of an ingestion leaves the database
consistent: the audit chain verifies, the scan is in whole or not at all, and the next upload works.
The real command in a subprocess, on a SQLite file and on PostgreSQL."""

from __future__ import annotations

import http.client
import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from leitplanke.core.results import ScanReport
from leitplanke.governance import access
from leitplanke.reports import jsonreports
from leitplanke.store import databases
from leitplanke.store.rows import Finding, Scan

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
RESULTS = 5000
LEITPLANKE = str(Path(sys.executable).with_name("leitplanke"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _serve(url: str, port: int, workdir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LEITPLANKE_DATABASE_URL": url, "LEITPLANKE_DATA_DIR": str(workdir)}
    process = subprocess.Popen(
        [LEITPLANKE, "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("leitplanke serve did not start")


def _scan_body(result: Any) -> bytes:
    results = [result("no-privileged", "containers", f"web-{i}", severity="critical") for i in range(RESULTS)]
    out = io.StringIO()
    jsonreports.write(ScanReport(results=results, documents=len(results)).finish(), out, now=NOW)
    return json.dumps({"app": "checkout", "env": "prod", "scan": json.loads(out.getvalue())}).encode()


def _post(port: int, body: bytes, token: str, sent: threading.Event | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    connection.request("POST", "/api/v1/scans", body=body, headers=headers)
    if sent is not None:
        sent.set()
    return connection.getresponse().status


def _writer_busy(database: Any) -> bool:
    """Whether a writing transaction is open now (the server's ingestion): try the writer lock without waiting."""
    if database.dialect == "sqlite":
        probe = sqlite3.connect(database.engine.url.database, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError:
            return True
        finally:
            probe.close()
    with database.engine.connect() as connection:
        key = databases._WRITE_LOCK_KEY
        taken = connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar()
        if taken:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
        return not taken


def _counts(database: Any) -> tuple[int, int]:
    with database.reading() as session:
        scans = session.scalar(select(func.count()).select_from(Scan)) or 0
        found = session.scalar(select(func.count()).select_from(Finding)) or 0
    return scans, found


def _audit_verify(url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEITPLANKE_DATABASE_URL": url}
    return subprocess.run(
        [LEITPLANKE, "audit", "verify"], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )


def test_sigkill_during_an_ingestion_leaves_a_consistent_database_and_a_valid_audit_chain(
    catalog_database: Any, tmp_path: Path, result: Any
) -> None:
    url = catalog_database.url
    token = access.create_token(
        catalog_database,
        subject="service:ci",
        name="ci",
        role="platform-admin",
        team=None,
        actor="t",
        now=NOW,
    )
    body = _scan_body(result)
    port = _free_port()
    server = _serve(url, port, tmp_path)
    sent = threading.Event()
    outcome: list[object] = []

    def upload() -> None:
        try:
            outcome.append(_post(port, body, token.token, sent))
        except OSError as exc:  # the server died under the request
            outcome.append(exc)

    uploader = threading.Thread(target=upload)
    uploader.start()
    killed_mid_transaction = False
    try:
        assert sent.wait(60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not outcome:
            if _writer_busy(catalog_database):
                killed_mid_transaction = True
                break
            time.sleep(0.002)
        server.send_signal(signal.SIGKILL)
        server.wait(30)
    finally:
        if server.poll() is None:
            server.kill()
        uploader.join(60)
    assert killed_mid_transaction, f"the ingestion ended before the kill: {outcome}"
    assert not isinstance(outcome[0], int), outcome

    restarted = _serve(url, port, tmp_path)
    try:
        verified = _audit_verify(url, tmp_path)
        assert verified.returncode == 0, verified.stderr
        assert "audit chain intact" in verified.stdout
        assert _counts(catalog_database) == (0, 0)  # the killed scan left nothing half-written
        assert _post(port, body, token.token) == 201
        assert _counts(catalog_database) == (1, RESULTS)
        verified = _audit_verify(url, tmp_path)
        assert verified.returncode == 0, verified.stderr
    finally:
        restarted.send_signal(signal.SIGTERM)
        try:
            restarted.wait(30)
        except subprocess.TimeoutExpired:
            restarted.kill()
