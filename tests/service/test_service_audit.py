"""The audit routes and commands: verify names a truncation, a leaf comes with its proof, and
``leitplanke audit verify`` exits non-zero naming the problem (the real command in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from leitplanke.governance import auditing

# the package under test, not whichever one the environment installed
SOURCE = str(Path(auditing.__file__).parents[2])


def _upload(service: Any, result: Any, names: list[str]) -> None:
    import io
    import json
    from datetime import UTC, datetime

    from leitplanke.core.results import ScanReport
    from leitplanke.reports import jsonreports

    out = io.StringIO()
    results = [result("no-privileged", "containers", name) for name in names]
    jsonreports.write(
        ScanReport(results=results, documents=len(results)).finish(),
        out,
        now=datetime(2026, 2, 1, tzinfo=UTC),
    )
    body = {"app": "checkout", "env": "prod", "scan": json.loads(out.getvalue())}
    response = service.client.post("/api/v1/scans", json=body, headers=service.headers("shop-dev"))
    assert response.status_code == 201, response.text


def test_verify_through_the_api_reports_the_checkpoint_and_then_a_missing_tail(
    service: Any, result: Any
) -> None:
    _upload(service, result, ["web", "api"])
    verified = service.client.get(
        "/api/v1/audit/verify", params={"full": "true"}, headers=service.headers("admin")
    )
    body = verified.json()
    head_seq = body["headSeq"]
    assert (verified.status_code, body["ok"], body["problems"], body["firstBadSeq"]) == (200, True, [], None)
    assert body["checkpoint"]["seq"] == head_seq and body["checkpoint"]["hash"] == body["head"]
    with service.database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_leaves WHERE seq = :s"), {"s": head_seq})
        connection.execute(text("DELETE FROM audit_records WHERE seq = :s"), {"s": head_seq})
    broken = service.client.get("/api/v1/audit/verify", headers=service.headers("admin")).json()
    assert (broken["ok"], broken["firstBadSeq"], broken["problems"]) == (
        False,
        head_seq,
        [
            {
                "code": "anchor-mismatch",
                "seq": head_seq,
                "detail": f"the record at seq {head_seq}, verified with hash {body['head']}, is missing",
            },
            {
                "code": "truncated",
                "seq": head_seq,
                "detail": f"records after seq {head_seq - 1} up to the checkpoint's seq {head_seq} are missing",
            },
        ],
    )


def test_a_leaf_of_an_ingestion_comes_with_a_proof_that_verifies(service: Any, result: Any) -> None:
    _upload(service, result, ["web", "api"])
    head = service.client.get("/api/v1/audit/verify", headers=service.headers("admin")).json()["headSeq"]
    answer = service.client.get(f"/api/v1/audit/{head}/leaves/1", headers=service.headers("admin"))
    assert answer.status_code == 200
    body = answer.json()
    proof = auditing.Proof(seq=head, idx=1, size=body["proof"]["size"], path=tuple(body["proof"]["path"]))
    assert (body["proof"]["seq"], body["proof"]["idx"], body["proof"]["size"]) == (head, 1, 2)
    assert auditing.verify_proof(body["leaf"], proof, body["merkleRoot"])
    missing = service.client.get(f"/api/v1/audit/{head}/leaves/2", headers=service.headers("admin"))
    assert (missing.status_code, missing.json()["detail"]) == (404, f"audit record {head} has no leaf 2")
    refused = service.client.get(f"/api/v1/audit/{head}/leaves/1", headers=service.headers("shop-admin"))
    assert refused.status_code == 403


def _cli(*args: str, cwd: Path, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEITPLANKE_DATABASE_URL": url, "PYTHONPATH": SOURCE}
    command = [sys.executable, "-m", "leitplanke.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_the_audit_commands_verify_name_a_wipe_and_print_the_public_key(
    catalog_database: Any, tmp_path: Path
) -> None:
    url = catalog_database.url
    intact = _cli("audit", "verify", "--full", cwd=tmp_path, url=url)
    assert (intact.returncode, intact.stderr) == (0, "")
    assert intact.stdout.startswith("audit chain intact: ")
    key = _cli("audit", "public-key", cwd=tmp_path, url=url)
    assert key.returncode == 0
    assert serialization.load_pem_public_key(key.stdout.encode()) == catalog_database.audit.public_key
    with catalog_database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_records"))
    wiped = _cli("audit", "verify", cwd=tmp_path, url=url)
    assert wiped.returncode == 1
    assert "audit chain broken: wiped at seq 1: no records, but the checkpoint names seq" in wiped.stderr
