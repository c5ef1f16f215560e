"""The change control tables: change requests and their approvals (migrations ``0008_changes`` and
``0018_change_sources``). Written by ``leitplanke.delivery`` through ``store.changerecords``; beside
``rows`` as ``deliveryrows`` is.

The checks keep the rules of change control true whoever writes to the database: four eyes, one
approval per approver and diff, an approved or applied change carrying the diff it was approved for.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from leitplanke.store.rows import Row

# the states of a change (delivery.changes); the checks below name them, so keep them in step
_UNAPPLIED = "'draft', 'submitted', 'approved', 'rejected', 'expired', 'cancelled'"
_APPLIED = "'applied', 'deployed', 'failed'"


class ChangeRequest(Row):
    """A proposed change of one app's manifests in one environment (0008_changes).

    The checks keep the rules of change control true whoever writes: an approved or applied change
    has the diff it was approved for; an applied one has its commit, an unapplied one none."""

    __tablename__ = "change_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id"))
    env_id: Mapped[int] = mapped_column(ForeignKey("environments.id"))
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10))
    author: Mapped[str] = mapped_column(String(200))  # the authoring actor, as audited
    author_subject: Mapped[str] = mapped_column(String(100))  # four eyes compare it
    manifests: Mapped[str] = mapped_column(Text)
    diff: Mapped[str] = mapped_column(Text)
    diff_hash: Mapped[str] = mapped_column(String(64))
    approved_hash: Mapped[str | None] = mapped_column(String(64))  # the diff_hash the approvals were for
    preflight: Mapped[dict[str, Any]]
    preflight_blocking: Mapped[bool] = mapped_column(Boolean, default=False)
    waiver_id: Mapped[int | None] = mapped_column(ForeignKey("waivers.id"))
    reverts_id: Mapped[int | None] = mapped_column(ForeignKey("change_requests.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    decided_by: Mapped[str] = mapped_column(String(200), default="")
    decision_note: Mapped[str] = mapped_column(Text, default="")
    applied_by: Mapped[str] = mapped_column(String(200), default="")
    applied_at: Mapped[datetime | None]
    commit_sha: Mapped[str | None] = mapped_column(String(40), unique=True)
    window_override: Mapped[str] = mapped_column(String(200), default="")  # the platform-admin who overrode
    finished_at: Mapped[datetime | None]  # deployed or failed
    # the library template and parameters the manifests were rendered from (0018); None: by hand
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        CheckConstraint(f"status IN ({_UNAPPLIED}, {_APPLIED})", name="ck_change_requests_status"),
        CheckConstraint(
            # NULL = x is not false: an approved change without an approved diff must fail the check
            f"status NOT IN ('approved', {_APPLIED})"
            " OR (approved_hash IS NOT NULL AND approved_hash = diff_hash)",
            name="ck_change_requests_approved_diff",
        ),
        CheckConstraint(
            f"(status IN ({_APPLIED})) = (commit_sha IS NOT NULL)", name="ck_change_requests_commit"
        ),
        # the target of the approvals' key: an approval names the change's author, checked
        UniqueConstraint("id", "author_subject", name="uq_change_requests_id_author"),
        Index("ix_change_requests_scope", "app_id", "env_id", "status"),
    )


class ChangeApproval(Row):
    """One approver's approval of one diff of a change; it counts while its diff is the change's and
    until it expires. Never by the author, once per approver and diff: checked by the database."""

    __tablename__ = "change_approvals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(Integer)
    author_subject: Mapped[str] = mapped_column(String(100))
    approver: Mapped[str] = mapped_column(String(200))  # the approving actor, as audited
    approver_subject: Mapped[str] = mapped_column(String(100))
    team: Mapped[str] = mapped_column(String(100))  # the team the approval counts for
    diff_hash: Mapped[str] = mapped_column(String(64))
    approved_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    __table_args__ = (
        ForeignKeyConstraint(
            ["change_id", "author_subject"],
            ["change_requests.id", "change_requests.author_subject"],
            name="fk_change_approvals_change_author",
        ),
        CheckConstraint("approver_subject <> author_subject", name="ck_change_approvals_four_eyes"),
        UniqueConstraint("change_id", "diff_hash", "approver_subject", name="uq_change_approvals_once"),
    )
