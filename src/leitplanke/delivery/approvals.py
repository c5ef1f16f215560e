"""Approving a change by the environment's rules: four eyes, N approvers, a second team for listed kinds.

An approval counts for the approver's own team (the owning team, or the second team when the change
touches its kinds), for the change's current diff, until it expires. The author never approves, nor
does one person twice (checked here, and by the database). A change whose pre-flight blocks needs an
approved waiver that covers every blocking failure. Called by the service's change routes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from leitplanke.catalog import changecontrols
from leitplanke.catalog.changecontrols import ChangeControl
from leitplanke.delivery import changes
from leitplanke.governance import access, auditing, authorising, errors
from leitplanke.store import changerecords, repositories
from leitplanke.store.changerows import ChangeApproval
from leitplanke.store.databases import Database

DEFAULT_LIFETIME = timedelta(hours=24)


def requirements(control: ChangeControl, *, owner: str, touched: Iterable[str]) -> dict[str, int]:
    """Approvals needed per team: the owning team's N, and one of the second team when the change
    touches one of its kinds."""
    needed = {owner: control.approvals.required}
    rules = control.approvals
    if rules.second_team and set(touched) & set(rules.second_team_kinds):
        needed[rules.second_team] = needed.get(rules.second_team, 0) + 1
    return needed


def satisfied(needed: Mapping[str, int], counting: Iterable[changes.ApprovalView]) -> bool:
    have: dict[str, int] = {}
    for approval in counting:
        have[approval.team] = have.get(approval.team, 0) + 1
    return all(have.get(team, 0) >= count for team, count in needed.items())


def needed_for(view: changes.ChangeView, control: ChangeControl) -> dict[str, int]:
    return requirements(control, owner=view.team, touched=view.preflight.get("touchedKinds", []))


def resource(view: changes.ChangeView, team: str) -> authorising.Resource:
    return authorising.Resource(f"change:{view.id}", (team,), requester=view.author_subject)


def counting_team(principal: access.Principal, view: changes.ChangeView, needed: Mapping[str, int]) -> str:
    """The team an approval of ``principal`` counts for: their own when the change needs it (the second
    team's approver), else the owning team (whose approver role ``authorising`` then asks for)."""
    return principal.team if principal.team is not None and principal.team in needed else view.team


@dataclass(frozen=True, slots=True)
class Approver:
    actor: str
    subject: str
    team: str


def approve_change(
    database: Database,
    change_id: int,
    *,
    approver: Approver,
    diff_hash: str,
    preflight_blocking: bool,
    now: datetime,
) -> changes.ChangeView:
    """Record ``approver``'s approval of the diff ``diff_hash`` (what the caller checked, its pre-flight
    with waivers judged ``preflight_blocking``); the change is approved once the rules are met."""
    with database.transaction() as session:
        found = changes.find(session, change_id)
        row = found[0]
        if row.diff_hash != diff_hash:
            raise errors.Conflict(f"change {change_id} changed while it was being approved", field="diffHash")
        if preflight_blocking:
            raise errors.Conflict(
                f"change {change_id} fails its pre-flight at enforce: it needs an approved waiver that "
                "covers every failure",
                field="waiver",
            )
        changes.next_status(row.status, event="approval")  # refused unless submitted
        if row.author_subject == approver.subject:
            raise errors.Forbidden(f"{approver.subject} is the author of change {change_id}")
        for earlier in changerecords.approvals_of(session, change_id):
            if earlier.diff_hash == row.diff_hash and earlier.approver_subject == approver.subject:
                raise errors.Conflict(f"{approver.subject} approved change {change_id} already")
        control = changes.control_of(session, row.env_id)
        expires = now + (changecontrols.parse_duration(control.approvals.expires_after) or DEFAULT_LIFETIME)
        repositories.add(
            session,
            ChangeApproval(
                change_id=row.id,
                author_subject=row.author_subject,
                approver=approver.actor,
                approver_subject=approver.subject,
                team=approver.team,
                diff_hash=row.diff_hash,
                approved_at=now,
                expires_at=expires,
            ),
        )
        view = changes.view_of(session, found, now=now)
        complete = satisfied(needed_for(view, control), [a for a in view.approvals if a.counts])
        if complete:
            row.approved_hash = row.diff_hash
            row.decided_by = approver.actor
        chain = auditing.Chain(session)
        details = {"team": approver.team, "expires": auditing.format_time(expires), "complete": complete}
        event = "approve" if complete else "approval"
        changes.step(session, chain, row, event=event, actor=approver.actor, now=now, details=details)
        chain.flush()
        return changes.view_of(session, found, now=now)


def expire_lapsed(database: Database, *, now: datetime) -> list[int]:
    """Approved changes whose approvals no longer meet the rules (expired) become expired; their ids."""
    with database.reading() as session:
        approved = [
            (changes.view_of(session, changes.find(session, row.id), now=now), row.env_id)
            for row in changerecords.changes_in_status(session, changes.APPROVED)
        ]
        lapsed = [
            view.id
            for view, env_id in approved
            if not satisfied(
                needed_for(view, changes.control_of(session, env_id)), [a for a in view.approvals if a.counts]
            )
        ]
    for change_id in lapsed:
        changes.transition(database, change_id, event="expire", actor=changes.SYSTEM, now=now)
    return lapsed
