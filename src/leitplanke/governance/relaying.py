"""Relaying the alert outbox (the outbox pattern's relay): claim the due rows, send each to its
target, record the outcome; a failed attempt is retried with exponential backoff until the attempts
run out.

Claiming commits a lease before anything is sent, and each outcome is committed right after its
send, so no transaction is held open across a network call. Called by the service's dispatcher.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from leitplanke.alerts import Alert, SendError, Target, Transport, send
from leitplanke.store import alertoutbox
from leitplanke.store.databases import Database


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    first_seconds: float = 5.0
    max_seconds: float = 3600.0
    max_attempts: int = 12

    def delay(self, attempts: int) -> float | None:
        """Seconds before the next attempt after ``attempts`` failed ones; None: give up."""
        if attempts >= self.max_attempts:
            return None
        return float(min(self.first_seconds * 2 ** (attempts - 1), self.max_seconds))


@dataclass(slots=True)
class Relayed:
    sent: list[tuple[str, str]] = field(default_factory=list)  # (key, target)
    retried: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)


def relay_due(
    database: Database,
    *,
    targets: Sequence[Target],
    transport: Transport,
    now: datetime,
    retry: RetryPolicy,
    limit: int = 20,
) -> Relayed:
    """Send up to ``limit`` due alerts, oldest first; what became of each."""
    by_name: Mapping[str, Target] = {target.name: target for target in targets}
    lease = sum(target.timeout_seconds for target in targets) * limit + 60
    with database.transaction() as session:
        claimed = [
            (row.id, row.key, row.target, row.attempts, row.alert)
            for row in alertoutbox.claim_due(
                session, now=now, lease_until=now + timedelta(seconds=lease), limit=limit
            )
        ]
    outcome = Relayed()
    for row_id, key, target_name, attempts, payload in claimed:
        target = by_name.get(target_name)
        error = ""
        if target is None:
            error = f"no target {target_name!r} is configured any more"
        else:
            try:
                send(
                    Alert.from_dict(payload),
                    target,
                    transport=transport,
                    idempotency_key=f"{key}@{target_name}",
                )
            except SendError as exc:
                error = str(exc)
        _record(database, row_id, error=error, attempts=attempts, now=now, retry=retry, gone=target is None)
        if not error:
            outcome.sent.append((key, target_name))
        elif target is None or retry.delay(attempts + 1) is None:
            outcome.failed.append((key, target_name))
        else:
            outcome.retried.append((key, target_name))
    return outcome


def _record(
    database: Database,
    row_id: int,
    *,
    error: str,
    attempts: int,
    now: datetime,
    retry: RetryPolicy,
    gone: bool,
) -> None:
    with database.transaction() as session:
        if not error:
            alertoutbox.mark_sent(session, row_id, now=now)
            return
        delay = None if gone else retry.delay(attempts + 1)
        retry_at = None if delay is None else now + timedelta(seconds=delay)
        alertoutbox.mark_failed_attempt(session, row_id, error=error, retry_at=retry_at)
