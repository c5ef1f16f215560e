"""Runtime findings (leaks, repeated OOM kills) ingested as a scan of each owning app, so that they get
an owner, a severity's SLA, a lifecycle and audit records like any policy finding. Called by the CLI.

Runtime scans have a source of their own (``runtime``) in the app's real environment (``prod``): a
scan fixes only what its own source reported last (``findingstates.sweeps``), so a runtime ingestion never
fixes a CI scan's findings nor a CI scan the runtime ones. Every app ``owners`` names gets a scan, so a
leak that is gone is fixed by the next ingestion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from leitplanke.core.results import Result
from leitplanke.governance import findings, findingstates
from leitplanke.store.databases import Database

SOURCE = findingstates.RUNTIME


def apps_of(
    results: Iterable[Result], *, owners: Mapping[str, str]
) -> tuple[dict[str, list[Result]], list[str]]:
    """Results grouped by the app owning their namespace (every app of ``owners`` present, maybe with
    none), and the namespaces no app owns, sorted. Pure."""
    grouped: dict[str, list[Result]] = {app: [] for app in sorted(set(owners.values()))}
    unowned: set[str] = set()
    for result in results:
        app = owners.get(result.resource.namespace)
        if app is None:
            unowned.add(result.resource.namespace)
        else:
            grouped[app].append(result)
    return grouped, sorted(unowned)


def ingest_runtime(
    database: Database,
    *,
    results: Iterable[Result],
    owners: Mapping[str, str],
    env: str,
    actor: str,
    now: datetime,
    sla_days: Mapping[str, int],
) -> tuple[list[findings.Ingested], list[str]]:
    """One ingestion (one transaction with its audit record) per app; and the unowned namespaces."""
    grouped, unowned = apps_of(results, owners=owners)
    done = []
    for app, owned in grouped.items():
        summary = {"source": SOURCE, "fail": len(owned)}
        done.append(
            findings.ingest_scan(
                database,
                app=app,
                env=env,
                results=owned,
                summary=summary,
                generated_at=now.isoformat(),
                actor=actor,
                now=now,
                sla_days=sla_days,
                source=SOURCE,
            )
        )
    return done, unowned
