"""The GitOps writer: an approved change committed into the environment's repository, path and branch.

``Writer`` keeps one working copy per repository and branch under its folder and a file lock beside
each, so that applies (threads, processes) never interleave. ``apply_change`` checks the sync windows
(a platform-admin's override is audited), that the approvals still count and that the diff is the one
approved, commits as the change's author (committer and sign-off: leitplanke), pushes, and records the
commit in the database, all under the lock. ``reconcile`` finishes what a crash between the push and the
database left: an approved change whose commit is in Git (found by its change ID) becomes applied.
"""

from __future__ import annotations

import difflib
import fcntl
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from leitplanke.catalog.changecontrols import ChangeControl, GitTarget
from leitplanke.delivery import approvals, changes, gitrepos, syncwindows
from leitplanke.governance import auditing, errors
from leitplanke.store import changerecords
from leitplanke.store.databases import Database

SYSTEM = changes.SYSTEM
_APP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def file_of(target: GitTarget | None, app: str) -> str:
    """Where an app's manifests live in the environment's repository."""
    if not _APP_NAME.match(app):
        raise errors.Invalid(f"app {app!r}: its name cannot name a file in the repository", field="app")
    name = f"{app}.yaml"
    return f"{target.path}/{name}" if target is not None and target.path else name


def render_diff(base: str, manifests: str, *, file: str) -> str:
    lines = difflib.unified_diff(
        base.splitlines(keepends=True), manifests.splitlines(keepends=True), f"a/{file}", f"b/{file}"
    )
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines
    )


def hash_diff(diff: str) -> str:
    return hashlib.sha256(diff.encode("utf-8")).hexdigest()


class Writer:
    """Working copies under ``root``, one per (repository, branch), each behind a file lock."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @contextmanager
    def locked(self, target: GitTarget) -> Iterator[gitrepos.WorkingCopy]:
        key = hashlib.sha256(f"{target.repository}\0{target.branch}".encode()).hexdigest()[:20]
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{key}.lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # per open file: threads and processes wait alike
            try:
                copy = gitrepos.WorkingCopy(self.root / key, remote=target.repository, branch=target.branch)
                copy.sync()
                yield copy
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def current(self, target: GitTarget | None, app: str) -> str:
        """The app's manifests as the environment's branch has them now ("" for none)."""
        if target is None:
            return ""
        with self.locked(target) as copy:
            return copy.read(file_of(target, app))

    def before(self, target: GitTarget, app: str, commit: str) -> str:
        """The app's manifests as they were before ``commit`` (what a rollback restores)."""
        with self.locked(target) as copy:
            return copy.show(f"{commit}^", file_of(target, app))


@dataclass(frozen=True, slots=True)
class Applier:
    actor: str
    subject: str
    may_override: bool  # a platform-admin: may apply outside the sync windows (audited)


def commit_message(view: changes.ChangeView) -> str:
    # the subject starts with the change's number, so that no title reads as another change's trailer
    title = " ".join(view.title.split())[:72]
    approvers = [a for a in view.approvals if a.counts]
    lines = [
        f"change {view.id}: {title}",
        "",
        f"leitplanke change {view.id} of {view.app} in {view.env}, diff {view.diff_hash[:12]}.",
        "",
        f"Change-Id: {changes.change_id_of(view.id)}",
        *(f"Approved-by: {a.approver_subject} ({a.team})" for a in approvers),
    ]
    return "\n".join(lines) + "\n"


def apply_change(
    database: Database,
    writer: Writer,
    change_id: int,
    *,
    applier: Applier,
    override_window: bool = False,
    now: datetime,
) -> changes.ChangeView:
    """Commit and push an approved change and record it applied; Conflict when it may not go now."""
    with database.reading() as session:
        found = changes.find(session, change_id)
        view = changes.view_of(session, found, now=now)
        control = changes.control_of(session, found[0].env_id)
    changes.next_status(view.status, event="apply")
    target = control.gitops
    if target is None:
        raise errors.Conflict(f"environment {view.env} has no GitOps repository", field="env")
    overridden = _check_window(control, view, override=override_window, applier=applier, now=now)
    needed = approvals.needed_for(view, control)
    if not approvals.satisfied(needed, [a for a in view.approvals if a.counts]):
        changes.transition(database, change_id, event="expire", actor=SYSTEM, now=now)
        raise errors.Conflict(f"the approvals of change {change_id} expired: it needs approving again")
    with writer.locked(target) as copy:
        trailer = f"Change-Id: {changes.change_id_of(change_id)}"
        sha = copy.find_commit(trailer)
        if sha is None:
            sha = _commit(copy, target, view, now=now)
        needed_count = sum(needed.values())
        return _record(
            database, view, sha=sha, needed=needed_count, applier=applier, overridden=overridden, now=now
        )


def _check_window(
    control: ChangeControl, view: changes.ChangeView, *, override: bool, applier: Applier, now: datetime
) -> bool:
    """Whether the change goes by a platform-admin's override; Conflict while it waits for a window."""
    verdict = syncwindows.judge(control.sync_windows, now)
    if verdict.open:
        return False
    if override and not applier.may_override:
        raise errors.Forbidden("only a platform-admin overrides a sync window")
    if not override:
        when = "" if verdict.next_open is None else f"; it opens at {auditing.format_time(verdict.next_open)}"
        raise errors.Conflict(
            f"change {view.id} waits for the sync window: {verdict.reason}{when}", field="window"
        )
    return True


def _commit(copy: gitrepos.WorkingCopy, target: GitTarget, view: changes.ChangeView, *, now: datetime) -> str:
    """Commit the change if the branch still has the state it was approved against; push (once more
    after a rejected push, against the new state)."""
    file = file_of(target, view.app)
    for attempt in (1, 2):
        if hash_diff(render_diff(copy.read(file), view.manifests, file=file)) != view.diff_hash:
            raise errors.Conflict(
                f"the diff of change {view.id} is no longer the one approved: {view.env} changed since",
                field="diff",
            )
        sha = copy.commit_file(
            file,
            view.manifests,
            author=gitrepos.person_of(view.author_subject),
            message=commit_message(view),
            at=now,
        )
        try:
            copy.push()
            return sha
        except gitrepos.PushRejected:
            if attempt == 2:
                raise
            copy.sync()
    raise AssertionError("unreachable")


def _record(
    database: Database,
    view: changes.ChangeView,
    *,
    sha: str,
    needed: int,
    applier: Applier,
    overridden: bool,
    now: datetime,
    reconciled: bool = False,
) -> changes.ChangeView:
    with database.transaction() as session:
        written = changerecords.mark_applied(
            session,
            change_id=view.id,
            diff_hash=view.diff_hash,
            commit_sha=sha,
            actor=applier.actor,
            at=now,
            approvals_needed=needed,
            window_override=applier.actor if overridden else "",
        )
        found = changes.find(session, view.id)
        if not written:
            if found[0].commit_sha == sha:
                return changes.view_of(session, found, now=now)  # applied already, by this commit
            raise errors.Conflict(
                f"change {view.id} is {found[0].status}: it was not applied", field="status"
            )
        chain = auditing.Chain(session)
        if overridden:
            chain.append(
                actor=applier.actor,
                action="change.window-overridden",
                target=f"change:{view.id}",
                at=now,
                details={"env": view.env},
            )
        details = {
            "from": changes.APPROVED,
            "to": changes.APPLIED,
            "diffHash": view.diff_hash,
            "commit": sha,
            "approvers": [a.approver_subject for a in view.approvals if a.counts],
            "reconciled": reconciled,
        }
        chain.append(
            actor=applier.actor, action="change.apply", target=f"change:{view.id}", at=now, details=details
        )
        chain.flush()
        return changes.view_of(session, found, now=now)


def reconcile(database: Database, writer: Writer, *, now: datetime) -> list[int]:
    """Approved changes whose commit is in Git already (a crash after the push): recorded as applied.
    Returns their ids."""
    with database.reading() as session:
        pending = [
            (
                changes.view_of(session, changes.find(session, row.id), now=now),
                changes.control_of(session, row.env_id),
            )
            for row in changerecords.changes_in_status(session, changes.APPROVED)
        ]
    done = []
    system = Applier(actor=SYSTEM, subject=SYSTEM, may_override=False)
    for view, control in pending:
        if control.gitops is None:
            continue
        with writer.locked(control.gitops) as copy:
            sha = copy.find_commit(f"Change-Id: {changes.change_id_of(view.id)}")
            if sha is None:
                continue
            _record(
                database, view, sha=sha, needed=0, applier=system, overridden=False, now=now, reconciled=True
            )
        done.append(view.id)
    return done
