"""``admissiondecisions.record_decisions`` under concurrent writers (webhook replicas shipping the same
decisions at once after a retry): each uid recorded once, one audit record each, one finding per object,
the audit chain one valid chain. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from leitplanke.core.results import Resource
from leitplanke.governance import admissiondecisions, auditverifying
from leitplanke.settings import DEFAULT_SLA_DAYS
from leitplanke.store.rows import AdmissionDecision, AuditRecord, Finding

NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)


def _decision(number: int) -> admissiondecisions.Decision:
    return admissiondecisions.Decision(
        uid=f"uid-{number:03d}",
        decided_at=NOW,
        app="checkout",
        env="prod",
        mode="enforce",
        outcome="deny",
        operation="CREATE",
        user="alice",
        resource=Resource("v1", "Pod", "shop", f"web-{number % 5}"),
        results=(
            admissiondecisions.DecisionResult(
                policy="no-privileged",
                rule="unprivileged",
                verdict="fail",
                severity="high",
                message="container app is privileged",
                path="spec.containers[0].securityContext.privileged",
            ),
        ),
    )


def test_four_writers_shipping_overlapping_batches_record_every_decision_once(catalog_database: Any) -> None:
    batches = [[_decision(n) for n in range(start, start + 20)] for start in (0, 10, 0, 10)]
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def ship(batch: list[admissiondecisions.Decision]) -> None:
        barrier.wait(30)
        try:
            admissiondecisions.record_decisions(
                catalog_database, decisions=batch, actor="webhook", now=NOW, sla_days=DEFAULT_SLA_DAYS
            )
        except BaseException as exc:  # collected: the assertion below names it
            errors.append(exc)

    threads = [threading.Thread(target=ship, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    with catalog_database.reading() as session:
        uids = sorted(session.scalars(select(AdmissionDecision.uid)).all())
        targets = sorted(
            session.scalars(select(AuditRecord.target).where(AuditRecord.action == "admission.decided")).all()
        )
        found = sorted((row.name, row.status) for row in session.scalars(select(Finding)).all())
    assert uids == [f"uid-{n:03d}" for n in range(30)]
    assert targets == [f"admission:uid-{n:03d}" for n in range(30)]
    assert found == [(f"web-{n}", "open") for n in range(5)]  # six decisions each: new, then open
    assert auditverifying.verify_database(catalog_database, full=True).problems == ()
