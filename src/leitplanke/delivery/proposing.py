"""Proposing a change: its diff against the environment's desired state in Git, the diff's hash, and
the pre-flight check with the environment's mode, recorded as a draft; edits and rollbacks likewise.

An edit makes a new diff: the approvals, which were for the old one, no longer count (an approved change
goes back to submitted). A rollback is a new change restoring what the reverted commit replaced.
Called by the service's change routes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from leitplanke import engine
from leitplanke.delivery import changes, gitops, preflight
from leitplanke.governance import auditing, errors, waivers
from leitplanke.store import repositories
from leitplanke.store.changerows import ChangeRequest
from leitplanke.store.databases import Database

MAX_MANIFEST_CHARS = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Tools:
    """What proposing and approving need besides the database: the pre-flight policies (compiled on
    first use) and the GitOps writer."""

    policies: Callable[[], engine.PolicySet]
    writer: gitops.Writer


@dataclass(frozen=True, slots=True)
class Proposal:
    app: str
    env: str
    title: str
    manifests: str
    waiver: int | None = None  # an approved waiver for failures the pre-flight finds
    reverts: int | None = None
    # the library template the manifests were rendered from: {"template", "values", "namespace",
    # "valueStream"}, so that an edit can go back to its form
    source: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Author:
    actor: str
    subject: str


@dataclass(frozen=True, slots=True)
class Assessed:
    """A change's diff and pre-flight, computed outside any write transaction."""

    diff: str
    diff_hash: str
    preflight: dict[str, Any]
    blocking: bool


def assess(
    database: Database,
    tools: Tools,
    *,
    app: str,
    env: str,
    manifests: str,
    waiver: int | None,
    now: datetime,
    removal: bool = False,
) -> Assessed:
    """Diff against Git and pre-flight of ``manifests`` for ``app`` in ``env``; ``removal``: empty
    manifests remove the app's file (a rollback of its first change)."""
    if not manifests.strip() and not removal:
        raise errors.Invalid("a change carries the app's rendered manifests", field="manifests")
    if len(manifests) > MAX_MANIFEST_CHARS:
        raise errors.Invalid(f"manifests of more than {MAX_MANIFEST_CHARS} characters", field="manifests")
    with database.reading() as session:
        env_row = repositories.environment_by_name(session, env)
        if env_row is None:
            raise errors.NotFound(f"no environment {env!r} in the catalog", field="env")
        if repositories.app_by_name(session, app) is None:
            raise errors.NotFound(f"no application {app!r} in the catalog", field="app")
        control = changes.control_of(session, env_row.id)
        mode = env_row.enforcement
        active = _active_waivers(session, waiver, app=app, env=env, now=now)
    base = tools.writer.current(control.gitops, app)
    file = gitops.file_of(control.gitops, app)
    diff = gitops.render_diff(base, manifests, file=file)
    if not diff:
        raise errors.Invalid(
            f"the manifests are what {env} has already: nothing to change", field="manifests"
        )
    outcome = preflight.check(
        tools.policies(),
        manifests,
        mode=mode,
        failure_mode=control.failure_mode,
        environment=env,
        waivers=active,
        now=now,
    )
    report = outcome.as_dict()
    report["touchedKinds"] = sorted(_changed_kinds(base, manifests))
    return Assessed(diff=diff, diff_hash=gitops.hash_diff(diff), preflight=report, blocking=outcome.blocking)


def _changed_kinds(base: str, manifests: str) -> set[str]:
    """Kinds of documents added, removed or changed between ``base`` and ``manifests``."""
    old = {_identity(d.body): d.body for d in preflight.parse_manifests(base)[0]}
    new = {_identity(d.body): d.body for d in preflight.parse_manifests(manifests)[0]}
    return {key[1] for key in old.keys() | new.keys() if old.get(key) != new.get(key)}


def _identity(body: Any) -> tuple[str, str, str, str]:
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    return (
        str(body.get("apiVersion", "")),
        str(body.get("kind", "")),
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


def _active_waivers(
    session: Session, waiver_id: int | None, *, app: str, env: str, now: datetime
) -> list[Any]:
    """The waiver a change names, as the engine's, if it is approved, unexpired and for its app and env."""
    if waiver_id is None:
        return []
    found = repositories.waiver_by_id(session, waiver_id)
    if found is None:
        raise errors.NotFound(f"no waiver {waiver_id}", field="waiver")
    row, waiver_app, waiver_env, _team = found
    if (waiver_app, waiver_env) != (app, env):
        raise errors.Invalid(f"waiver {waiver_id} is for {waiver_app} in {waiver_env}", field="waiver")
    if row.status != waivers.APPROVED or row.expires <= now:
        return []
    return [waivers.to_core(row)]


def create_change(
    database: Database, tools: Tools, proposal: Proposal, *, author: Author, now: datetime
) -> changes.ChangeView:
    """A draft change of ``proposal``, its diff and pre-flight recorded; audited."""
    title = " ".join(proposal.title.split())
    if not title:
        raise errors.Invalid("a change has a title", field="title")
    assessed = assess(
        database,
        tools,
        app=proposal.app,
        env=proposal.env,
        manifests=proposal.manifests,
        waiver=proposal.waiver,
        now=now,
        removal=proposal.reverts is not None,
    )
    with database.transaction() as session:
        app_row = repositories.app_by_name(session, proposal.app)
        env_row = repositories.environment_by_name(session, proposal.env)
        if app_row is None or env_row is None:
            raise errors.NotFound("the app or environment was removed meanwhile", field="app")
        row = _new_row(proposal, assessed, author=author, title=title, ids=(app_row.id, env_row.id), now=now)
        repositories.add(session, row)
        chain = auditing.Chain(session)
        details = {
            "app": proposal.app,
            "env": proposal.env,
            "title": title,
            "diffHash": assessed.diff_hash,
            "preflightBlocking": assessed.blocking,
            "waiver": proposal.waiver,
            "reverts": proposal.reverts,
        }
        chain.append(
            actor=author.actor, action="change.create", target=f"change:{row.id}", at=now, details=details
        )
        chain.flush()
        return changes.view_of(session, changes.find(session, row.id), now=now)


def _new_row(
    proposal: Proposal, assessed: Assessed, *, author: Author, title: str, ids: tuple[int, int], now: datetime
) -> ChangeRequest:
    """A draft's row: nothing decided, approved or applied yet (the database's checks say so too)."""
    return ChangeRequest(
        app_id=ids[0],
        env_id=ids[1],
        title=title[:200],
        status=changes.DRAFT,
        author=author.actor,
        author_subject=author.subject,
        manifests=proposal.manifests,
        diff=assessed.diff,
        diff_hash=assessed.diff_hash,
        approved_hash=None,
        preflight=assessed.preflight,
        preflight_blocking=assessed.blocking,
        waiver_id=proposal.waiver,
        reverts_id=proposal.reverts,
        created_at=now,
        updated_at=now,
        decided_by="",
        decision_note="",
        applied_by="",
        applied_at=None,
        commit_sha=None,
        window_override="",
        finished_at=None,
        source=proposal.source,
    )


def edit_change(
    database: Database,
    tools: Tools,
    change_id: int,
    *,
    manifests: str,
    waiver: int | None,
    author: Author,
    now: datetime,
    title: str | None = None,
    source: dict[str, Any] | None = None,
) -> changes.ChangeView:
    """New manifests for a change not yet applied: a new diff and hash, so that earlier approvals
    no longer count. ``title``: a new title too (None keeps it); ``source``: the template and values
    the new manifests were rendered from (None: edited by hand, so the change no longer names any)."""
    current = changes.get_change(database, change_id, now=now)
    if current.author_subject != author.subject:
        raise errors.Forbidden(f"only the author of change {change_id} edits it")
    changes.next_status(current.status, event="edit")
    new_title = current.title if title is None else " ".join(title.split())[:200]
    if not new_title:
        raise errors.Invalid("a change has a title", field="title")
    assessed = assess(
        database, tools, app=current.app, env=current.env, manifests=manifests, waiver=waiver, now=now
    )
    with database.transaction() as session:
        found = changes.find(session, change_id)
        row = found[0]
        if row.diff_hash != current.diff_hash or row.status != current.status:
            raise errors.Conflict(f"change {change_id} changed meanwhile: read it again", field="status")
        before = row.diff_hash
        row.status = changes.next_status(row.status, event="edit")
        row.manifests, row.diff, row.diff_hash = manifests, assessed.diff, assessed.diff_hash
        row.approved_hash = None
        row.preflight, row.preflight_blocking, row.waiver_id = assessed.preflight, assessed.blocking, waiver
        row.title, row.source, row.updated_at = new_title, source, now
        session.flush()
        chain = auditing.Chain(session)
        details: dict[str, Any] = {
            "from": current.status,
            "to": row.status,
            "previousDiffHash": before,
            "diffHash": row.diff_hash,
            "preflightBlocking": assessed.blocking,
        }
        if new_title != current.title:
            details["title"] = new_title
        if waiver != current.waiver:
            details["waiver"] = waiver
        if source is not None:
            details["template"] = source.get("template")
        chain.append(
            actor=author.actor, action="change.edit", target=f"change:{change_id}", at=now, details=details
        )
        chain.flush()
        return changes.view_of(session, found, now=now)


def revert_change(
    database: Database, tools: Tools, change_id: int, *, author: Author, now: datetime
) -> changes.ChangeView:
    """Rollback: a new draft change that restores what the applied change ``change_id`` replaced."""
    old = changes.get_change(database, change_id, now=now)
    if old.commit_sha is None:
        raise errors.Conflict(f"change {change_id} was never applied: nothing to revert", field="status")
    with database.reading() as session:
        env_row = repositories.environment_by_name(session, old.env)
        control = changes.control_of(session, env_row.id) if env_row is not None else None
    if control is None or control.gitops is None:
        raise errors.Conflict(f"environment {old.env} has no GitOps repository", field="env")
    restored = tools.writer.before(control.gitops, old.app, old.commit_sha)
    proposal = Proposal(
        app=old.app,
        env=old.env,
        title=f"Revert change {old.id}: {old.title}",
        manifests=restored,
        reverts=old.id,
    )
    return create_change(database, tools, proposal, author=author, now=now)


def recheck(database: Database, tools: Tools, view: changes.ChangeView, *, now: datetime) -> tuple[str, bool]:
    """The diff hash and whether the pre-flight blocks, as of now: a change whose pre-flight blocked, or
    that names a waiver, is checked again (the waiver may have been approved, or expired, since)."""
    if not view.preflight_blocking and view.waiver is None:
        return view.diff_hash, False
    assessed = assess(
        database,
        tools,
        app=view.app,
        env=view.env,
        manifests=view.manifests,
        waiver=view.waiver,
        now=now,
        removal=view.reverts is not None,
    )
    return assessed.diff_hash, assessed.blocking
