"""One audit record per ingestion: its transitions are leaves under the record's Merkle root (RFC 6962),
each provable on its own, and a leaf changed, deleted or added in the database is caught by verify."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from leitplanke.governance import auditing, auditverifying, findings, merkle

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SLA = {"critical": 15, "high": 30, "medium": 90, "low": 180}


def _rfc6962_root(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 6962 section 2.1 writes it, over raw leaf data."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _rfc6962_root(leaves[:k]) + _rfc6962_root(leaves[k:])).digest()


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 7, 8, 9, 13, 16, 17, 31])
def test_the_root_and_every_audit_path_follow_rfc_6962(size: int) -> None:
    leaves = [{"n": n} for n in range(size)]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    root = merkle.root(hashes)
    assert root == _rfc6962_root([merkle.canonical_leaf(leaf) for leaf in leaves]).hex()
    for index in range(size):
        siblings = merkle.path(hashes, index)
        assert merkle.verify_path(hashes[index], index=index, size=size, siblings=siblings, root_hex=root)
        assert not merkle.verify_path(
            hashes[index], index=(index + 1) % size or size, size=size, siblings=siblings, root_hex=root
        )


def _ingest(database: Any, results: list[Any], *, now: datetime) -> Any:
    return findings.ingest_scan(
        database,
        app="checkout",
        env="prod",
        results=results,
        summary={},
        generated_at="",
        actor="token:ci",
        now=now,
        sla_days=SLA,
    )


def _audit_rows(database: Any) -> int:
    with database.reading() as session:
        return int(session.execute(text("SELECT count(*) FROM audit_records")).scalar_one())


@pytest.fixture
def ingested(catalog_database: Any, result: Any) -> tuple[Any, int]:
    """Three failing results ingested once: one ``scan.ingested`` record with three leaves."""
    before = _audit_rows(catalog_database)
    _ingest(
        catalog_database,
        [result("no-privileged", "containers", name) for name in ("web", "api", "db")],
        now=T0,
    )
    assert _audit_rows(catalog_database) == before + 1
    return catalog_database, before + 1


def test_an_ingestion_is_one_audit_record_whose_leaves_are_its_transitions(
    ingested: tuple[Any, int], result: Any
) -> None:
    database, seq = ingested
    with database.reading() as session:
        record = session.execute(
            text("SELECT action, details FROM audit_records WHERE seq = :s"), {"s": seq}
        ).one()
        leaves = [auditing.prove(session, seq, idx).leaf for idx in range(3)]
    details = record.details if isinstance(record.details, dict) else json.loads(record.details)
    assert record.action == "scan.ingested"
    assert (details["leaves"], details["transitions"]) == (3, {"none->new": 3})
    assert sorted((leaf["resource"], leaf["from"], leaf["to"]) for leaf in leaves) == [
        ("Deployment/shop/api", None, "new"),
        ("Deployment/shop/db", None, "new"),
        ("Deployment/shop/web", None, "new"),
    ]
    web = next(leaf for leaf in leaves if leaf["resource"] == "Deployment/shop/web")
    assert web == {
        "fingerprint": findings.fingerprint(result("no-privileged", "containers", "web")),
        "from": None,
        "to": "new",
        "policy": "no-privileged",
        "rule": "containers",
        "resource": "Deployment/shop/web",
        "path": web["path"],
    }
    assert auditverifying.verify_database(database, full=True).ok


def test_ten_uploads_of_the_same_scan_add_one_audit_record_each(catalog_database: Any, result: Any) -> None:
    results = [result("no-privileged", "containers", f"web-{n}") for n in range(50)]
    growth = []
    for n in range(10):
        before = _audit_rows(catalog_database)
        _ingest(catalog_database, results, now=T0 + timedelta(hours=n))
        growth.append(_audit_rows(catalog_database) - before)
    assert growth == [1] * 10
    assert auditverifying.verify_database(catalog_database, full=True).ok


def test_a_valid_proof_verifies_and_a_tampered_one_does_not(ingested: tuple[Any, int]) -> None:
    database, seq = ingested
    with database.reading() as session:
        proven = auditing.prove(session, seq, 1)
    assert (proven.proof.seq, proven.proof.idx, proven.proof.size, len(proven.proof.path)) == (seq, 1, 3, 2)
    assert auditing.verify_proof(proven.leaf, proven.proof, proven.root)
    assert not auditing.verify_proof({**proven.leaf, "to": "fixed"}, proven.proof, proven.root)
    forged_path = (
        proven.proof.path[0][:-1] + ("0" if proven.proof.path[0][-1] != "0" else "1"),
        proven.proof.path[1],
    )
    assert not auditing.verify_proof(proven.leaf, auditing.Proof(seq, 1, 3, forged_path), proven.root)
    assert not auditing.verify_proof(proven.leaf, auditing.Proof(seq, 0, 3, proven.proof.path), proven.root)
    assert not auditing.verify_proof(proven.leaf, proven.proof, "0" * 64)


def test_a_leaf_edited_in_the_database_is_caught(ingested: tuple[Any, int]) -> None:
    database, seq = ingested
    with database.engine.begin() as connection:
        body = json.dumps(
            {
                "fingerprint": "x",
                "from": None,
                "to": "waived",
                "policy": "p",
                "rule": "r",
                "resource": "x",
                "path": "",
            }
        )
        connection.execute(
            text("UPDATE audit_leaves SET body = :b WHERE seq = :s AND idx = 1"), {"b": body, "s": seq}
        )
    assert [(p.code, p.seq) for p in auditverifying.verify_database(database, full=True).problems] == [
        ("leaves-mismatch", seq)
    ]


def test_a_leaf_deleted_in_the_database_is_caught(ingested: tuple[Any, int]) -> None:
    database, seq = ingested
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_leaves WHERE seq = :s AND idx = 2"), {"s": seq})
    assert [(p.code, p.seq) for p in auditverifying.verify_database(database, full=True).problems] == [
        ("leaves-mismatch", seq)
    ]


def test_a_leaf_added_to_a_record_without_leaves_is_caught(ingested: tuple[Any, int]) -> None:
    database, _ = ingested
    with database.engine.begin() as connection:
        connection.execute(text("INSERT INTO audit_leaves (seq, idx, body) VALUES (1, 0, '{}')"))
    assert [(p.code, p.seq) for p in auditverifying.verify_database(database, full=True).problems] == [
        ("orphan-leaves", 1)
    ]


def test_a_leaf_added_after_the_last_record_is_caught(ingested: tuple[Any, int]) -> None:
    database, seq = ingested
    with database.engine.begin() as connection:
        connection.execute(
            text("INSERT INTO audit_leaves (seq, idx, body) VALUES (:s, 0, '{}')"), {"s": seq + 5}
        )
    assert [(p.code, p.seq) for p in auditverifying.verify_database(database, full=True).problems] == [
        ("orphan-leaves", seq + 5)
    ]


def test_appending_twenty_thousand_leaves_holds_their_text_not_a_buffer_per_leaf(database: Any) -> None:
    # orjson's bytes each pinned a buffer of kilobytes: 400 MB for the 100k leaves of a large scan
    leaves = [{"fingerprint": f"{n:064x}", "from": None, "to": "new", "path": "spec"} for n in range(20_000)]
    with database.transaction() as session:
        chain = auditing.Chain(session)
        tracemalloc.start()
        try:
            chain.append(actor="a", action="scan.ingested", target="scan:1", at=T0, leaves=leaves)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        first = chain.pending_leaves[0]
        chain.pending, chain.pending_leaves = [], []
    assert first == (1, 0, '{"fingerprint":"' + "0" * 64 + '","from":null,"path":"spec","to":"new"}')
    assert peak < 16 << 20, f"{peak >> 20} MiB traced while appending"
