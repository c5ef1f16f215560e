"""The findings lifecycle: a scan of one (app, environment) ingested into remembered findings.

A failing result is keyed by a stable fingerprint and moves new → open (still failing on the next
scan) → fixed (a later scan of the same scope passes or no longer reports it) → reopened (fails
again) → open; a failure that an approved, unexpired service waiver covers makes it waived (a waiver
name the client claims counts for nothing by itself). Every status change is appended to the audit
chain in the same transaction. A scan has a source (``ci``, ``drift``, ``cluster:<name>``, ``runtime``):
only the findings its source reported last are fixed when it no longer reports them
(``findingstates.sweeps``); a finding reported by another source becomes that source's. Only rows whose
state changes are written: a finding that is not fixed was reported by its source's latest scan of the
scope, which is when it was last seen.
Called by the service's scan upload and by the demo seed.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, overload

from leitplanke.core.results import Result
from leitplanke.governance import alerting, auditing, errors, observations, slas, waiverexpiring
from leitplanke.governance.findingstates import (
    CI,
    FIXED,
    WAIVED,
    next_status,
    sweeps,
)
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import Scan

_BATCH = 5000  # rows per bulk write: bounds the memory of the rows being built
# new findings after which the planner's statistics are refreshed at once, not when autovacuum comes:
# the list queries pick their plans from them
_ANALYSE_AFTER = 10_000


def fingerprint(result: Result) -> str:
    """sha256 over policy, rule, resource apiVersion/kind/namespace/name and the field path."""
    return observations.fingerprint_of(result.policy, result.rule, result.resource, result.location.path)


@dataclass(slots=True)
class Ingested:
    scan_id: int
    app: str
    env: str
    transitions: dict[str, int] = field(default_factory=dict)  # "open->fixed": count
    findings: int = 0  # failing or waived results seen in this scan, by fingerprint
    unrecognised_waivers: list[str] = field(default_factory=list)  # claimed, not a covering service waiver
    new_findings: int = 0  # findings this scan added (not in the answer: see ``refresh_statistics``)
    rewritten_findings: int = 0  # findings whose state it changed (nor this)

    def as_dict(self) -> dict[str, Any]:
        return {
            "scan": self.scan_id,
            "app": self.app,
            "env": self.env,
            "findings": self.findings,
            "transitions": dict(sorted(self.transitions.items())),
            "unrecognisedWaivers": list(self.unrecognised_waivers),
        }


@contextmanager
def _collection_paused() -> Iterator[None]:
    """The cyclic garbage collector off while an ingestion allocates its hundred thousand lasting
    objects (each generation-2 pass would walk them all again, for no cycle); back on when it ends."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@_collection_paused()
def ingest_scan(
    database: Database,
    *,
    app: str,
    env: str,
    results: Iterable[Result],
    summary: Mapping[str, Any],
    generated_at: str,
    actor: str,
    now: datetime,
    sla_days: Mapping[str, int],
    outbox: alerting.Outbox | None = None,
    source: str = CI,
) -> Ingested:
    """Record a scan of (app, env) by ``source`` and move its findings through the lifecycle, in one
    transaction.

    ``results`` is consumed once and completely before the transaction opens (an exception it raises
    leaves nothing written). Waivers whose time has come expire first; a failure is then taken as
    waived exactly when an approved waiver of the service covers it, whatever the client claimed.
    """
    observed = observations.collect(results)
    with database.transaction() as session:
        chain = auditing.Chain(session)
        waiverexpiring.expire_due(session, chain, now=now)
        app_row = repositories.app_by_name(session, app)
        if app_row is None:
            raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
        env_row = repositories.environment_by_name(session, env)
        if env_row is None:
            raise errors.NotFound(f"no environment {env!r} in the catalog", field="env")
        scope = {"app_id": app_row.id, "env_id": env_row.id}
        unrecognised = observations.resolve(
            observed, waiverexpiring.active_in_scope(session, **scope, now=now)
        )
        previous = repositories.latest_scan(session, **scope, source=source)
        scan_id = repositories.add_scan(
            session,
            Scan(
                **scope,
                received_at=now,
                generated_at=generated_at,
                actor=actor,
                results=observed.results,
                failing=observed.failing(),
                summary=dict(summary),
                source=source,
            ),
        )
        outcome = Ingested(
            scan_id=scan_id,
            app=app,
            env=env,
            findings=len(observed.findings),
            unrecognised_waivers=unrecognised,
        )
        context = _Context(
            outcome=outcome,
            chain=chain,
            actor=actor,
            now=now,
            scan_id=scan_id,
            scope=f"{app}/{env}",
            source=source,
        )
        fresh = dict(observed.findings)  # what is left once the known findings are matched: the new ones
        changes = _changed_findings(
            repositories.iter_scope_findings(session, **scope),
            fresh,
            previous=previous,
            sla_days=sla_days,
            context=context,
        )
        rewrite = repositories.rewriting_findings(session)
        for batch in _batches(changes):
            rewrite.add(batch)
            outcome.rewritten_findings += len(batch)
        rewrite.apply()
        for batch in _batches(_new_findings(fresh, scope=scope, sla_days=sla_days, context=context)):
            repositories.insert_findings(session, batch)
            if outbox is not None:  # in this transaction: an alert exists exactly when its finding does
                alerting.queue_new_criticals(session, outbox, batch, app=app, env=env, now=now)
        outcome.new_findings = len(fresh)
        chain.append(
            actor=actor,
            action="scan.ingested",
            target=f"scan:{scan_id}",
            at=now,
            details=outcome.as_dict(),
            leaves=context.leaves,
        )
        chain.flush()
    return outcome


def refresh_statistics(database: Database, outcome: Ingested) -> None:
    """After an ingestion that added or rewrote many findings, outside a transaction: the findings table
    vacuumed and its planner statistics refreshed (PostgreSQL), at once rather than when autovacuum
    comes, for the list queries pick their plans from them and count from an index alone. The service
    runs it once the upload is answered."""
    if outcome.new_findings + outcome.rewritten_findings >= _ANALYSE_AFTER:
        with database.maintaining() as connection:  # VACUUM takes no writer lock: it waits for no ingestion
            repositories.vacuum_findings(connection)


def _batches(rows: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(slots=True)
class _Context:
    outcome: Ingested
    chain: auditing.Chain
    actor: str
    now: datetime
    scan_id: int
    scope: str
    source: str
    # one per status change, under the Merkle root of the scan's single audit record
    leaves: list[dict[str, Any]] = field(default_factory=list)

    def audit(self, key: str, before: str | None, after: str, item: _Described) -> None:
        name = f"{before or 'none'}->{after}"
        self.outcome.transitions[name] = self.outcome.transitions.get(name, 0) + 1
        namespace = f"{item.namespace}/" if item.namespace else ""
        self.leaves.append(
            {
                "fingerprint": key,
                "from": before,
                "to": after,
                "policy": item.policy,
                "rule": item.rule,
                "resource": f"{item.kind}/{namespace}{item.name}",  # as Resource.display
                "path": item.path,
            }
        )


class _Described(Protocol):
    """What a transition's leaf names of its finding: an observation or a stored finding."""

    @property
    def policy(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def namespace(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...


def _new_findings(
    fresh: Mapping[str, observations.Observation],
    *,
    scope: Mapping[str, int],
    sla_days: Mapping[str, int],
    context: _Context,
) -> Iterator[dict[str, Any]]:
    now = context.now
    for key, item in fresh.items():
        status = next_status(None, observed="waived" if item.waiver else "fail")
        resource = item.resource
        yield {
            **scope,
            "fingerprint": key,
            "policy": item.policy,
            "rule": item.rule,
            "api_version": resource.api_version,
            "kind": resource.kind,
            "namespace": resource.namespace,
            "name": resource.name,
            "path": item.path,
            "file": item.file,
            "severity": item.severity,
            "message": item.message,
            "status": status,
            "waiver": item.waiver,
            "first_seen": now,
            "last_seen": now,
            "fixed_at": None,
            "sla_due": slas.due_date(now, item.severity, sla_days),
            "last_scan_id": context.scan_id,
            "waived_since": now if status == WAIVED else None,
            "paused_seconds": 0,
            "source": context.source,
            "category": item.category,
        }
        context.audit(key, None, status, item)


def _changed_findings(
    stored: Iterable[repositories.StoredFinding],
    fresh: dict[str, observations.Observation],
    *,
    previous: tuple[int, datetime] | None,
    sla_days: Mapping[str, int],
    context: _Context,
) -> Iterator[dict[str, Any]]:
    """The rewrites of the known findings whose state changes (full rows, for one bulk statement);
    the observations matched are taken out of ``fresh``. Unchanged findings are not written."""
    now = context.now
    for finding in stored:
        item = fresh.pop(finding.fingerprint, None)
        if item is None:
            if finding.status == FIXED or not sweeps(context.source, reported_by=finding.source):
                continue
            # it was reported by its source's previous scan (every finding not fixed was), not by this
            # one; an admission decision's finding, when that decision was recorded (its row says so)
            if finding.source == context.source:
                seen_scan, seen_at = previous or (context.scan_id, now)
            else:
                seen_scan, seen_at = finding.last_scan_id, _aware(finding.last_seen)
            yield _row(
                finding, status=FIXED, fixed_at=now, last_seen=seen_at, last_scan_id=seen_scan, now=now
            )
            context.audit(finding.fingerprint, finding.status, FIXED, finding)
            continue
        status = next_status(finding.status, observed="waived" if item.waiver else "fail")
        pause = _pause(finding, status, now)
        paused = pause.get("paused_seconds", finding.paused_seconds)
        due = slas.due_date(finding.first_seen, item.severity, sla_days, paused_seconds=paused)  # naive
        same = (finding.status, finding.severity, finding.message, finding.waiver, finding.sla_due)
        seen = (status, item.severity, item.message, item.waiver, due)
        mine = (finding.source, finding.category) == (context.source, item.category)
        if not pause and mine and same == seen:
            continue
        # the row built here, not by ``_row``: this is the path of every finding a scan reports again
        row = {
            "id": finding.id,
            "status": status,
            "severity": item.severity,
            "message": item.message,
            "waiver": item.waiver,
            "sla_due": _aware(due),
            "fixed_at": None,  # reported again: not fixed (only a fixed finding has a fixed_at)
            "last_seen": now,
            "last_scan_id": context.scan_id,
            "waived_since": _aware(finding.waived_since),
            "paused_seconds": finding.paused_seconds,
            "source": context.source,  # reported last by this scan's source: its next scan may fix it
            "category": item.category,
        }
        row.update(pause)
        yield row
        if status != finding.status:
            context.audit(finding.fingerprint, finding.status, status, item)


def _row(
    finding: repositories.StoredFinding,
    *,
    status: str,
    fixed_at: datetime | None,
    last_seen: datetime,
    last_scan_id: int,
    now: datetime,
    **changed: Any,
) -> dict[str, Any]:
    """Every column ``repositories.REWRITTEN`` names, the unchanged ones as stored."""
    row = {
        "id": finding.id,
        "status": status,
        "severity": finding.severity,
        "message": finding.message,
        "waiver": finding.waiver,
        "sla_due": _aware(finding.sla_due),
        "fixed_at": fixed_at,
        "last_seen": last_seen,
        "last_scan_id": last_scan_id,
        "waived_since": _aware(finding.waived_since),
        "paused_seconds": finding.paused_seconds,
        "source": finding.source,
        "category": finding.category,
    }
    row.update(changed)
    row.update(_pause(finding, status, now))
    return row


def _pause(finding: repositories.StoredFinding, status: str, now: datetime) -> dict[str, Any]:
    """The SLA pause columns to change: a pause begins on entering waived and ends on leaving it."""
    if status == WAIVED and finding.waived_since is None:
        return {"waived_since": now}
    if status != WAIVED and finding.waived_since is not None:
        paused = finding.paused_seconds + slas.pause_seconds(_aware(finding.waived_since), now)
        return {"waived_since": None, "paused_seconds": paused}
    return {}


@overload
def _aware(stored: datetime) -> datetime: ...
@overload
def _aware(stored: None) -> None: ...
def _aware(stored: datetime | None) -> datetime | None:
    """A time as stored (naive UTC) as an aware one."""
    return None if stored is None else stored.replace(tzinfo=UTC)
