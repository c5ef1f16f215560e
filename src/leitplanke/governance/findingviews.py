"""Findings as their readers see them: one page of findings in id order, with when each was last seen.

The read side of the findings lifecycle (``findings`` writes): a finding that is not fixed was
reported by its source's latest scan of its scope, so its ``lastSeen`` is that scan's time (an
admission decision's finding: when it was recorded). Called by the service's
``GET /findings`` and by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from leitplanke.governance import slas
from leitplanke.governance.findingstates import ADMISSION, FIXED
from leitplanke.store import repositories
from leitplanke.store.databases import Database
from leitplanke.store.rows import Finding


@dataclass(frozen=True, slots=True)
class FindingView:
    id: int
    fingerprint: str
    app: str
    team: str
    env: str
    policy: str
    rule: str
    resource: dict[str, str]
    path: str
    severity: str
    message: str
    status: str
    waiver: str
    first_seen: datetime
    last_seen: datetime
    fixed_at: datetime | None
    sla_due: datetime | None
    overdue: bool
    source: str  # of the scan that reported it last: ci, drift, cluster:<name>, admission
    category: str  # "drift" for drift
    file: str = ""  # the manifest file the finding was first reported in


@dataclass(frozen=True, slots=True)
class FindingsPage:
    total: int  # every finding the filter matches
    items: list[FindingView]
    more: bool  # findings follow the last item (its id is the cursor of the next page)


def page_findings(
    database: Database,
    where: repositories.FindingFilter,
    *,
    limit: int,
    offset: int = 0,
    after: int | None = None,
    now: datetime,
) -> FindingsPage:
    """One page in id order: the findings after id ``after`` (keyset), or ``offset`` rows in."""
    with database.reading() as session:
        total, rows = repositories.query_findings(session, where, limit=limit + 1, offset=offset, after=after)
        more, rows = len(rows) > limit, rows[:limit]
        seen = repositories.latest_scan_times(session, {source_scope(f) for f, *_ in rows})
        items = [
            view_of(finding, app, team, env, latest=seen.get(source_scope(finding)), now=now)
            for finding, app, team, env in rows
        ]
    return FindingsPage(total=total, items=items, more=more)


def list_findings(
    database: Database,
    where: repositories.FindingFilter,
    *,
    limit: int,
    offset: int = 0,
    after: int | None = None,
    now: datetime,
) -> tuple[int, list[FindingView]]:
    page = page_findings(database, where, limit=limit, offset=offset, after=after, now=now)
    return page.total, page.items


def source_scope(finding: Finding) -> repositories.SourceScope:
    return (finding.app_id, finding.env_id, finding.source)


def view_of(
    finding: Finding, app: str, team: str, env: str, *, latest: datetime | None, now: datetime
) -> FindingView:
    is_open = finding.status in slas.OPEN_STATUSES
    # a finding not fixed was reported by its source's latest scan: its row is not rewritten for that
    # (an admission decision's row is: each decision sees only its own object)
    written = finding.status == FIXED or finding.source == ADMISSION
    last_seen = finding.last_seen if written or latest is None else latest
    return FindingView(
        id=finding.id,
        fingerprint=finding.fingerprint,
        app=app,
        team=team,
        env=env,
        policy=finding.policy,
        rule=finding.rule,
        resource={
            "apiVersion": finding.api_version,
            "kind": finding.kind,
            "namespace": finding.namespace,
            "name": finding.name,
        },
        path=finding.path,
        severity=finding.severity,
        message=finding.message,
        status=finding.status,
        waiver=finding.waiver,
        first_seen=finding.first_seen,
        last_seen=last_seen,
        fixed_at=finding.fixed_at,
        sla_due=finding.sla_due,
        overdue=is_open and finding.sla_due is not None and finding.sla_due < now,
        source=finding.source,
        category=finding.category,
        file=finding.file,
    )
