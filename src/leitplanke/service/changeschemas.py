"""The bodies and answers of the change routes (``service.changing``), as Pydantic models."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from leitplanke.delivery import proposing

Status = Literal[
    "draft", "submitted", "approved", "rejected", "applied", "deployed", "failed", "expired", "cancelled"
]  # delivery.changes.STATUSES
Name = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
Manifests = Field(max_length=proposing.MAX_MANIFEST_CHARS)


class ChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app: str = Name
    env: str = Name
    title: str = Field(min_length=1, max_length=200)
    manifests: str = Manifests
    waiver: int | None = Field(default=None, ge=1, le=2_147_483_647)
    submit: bool = False  # submit at once (skip the draft)


class EditIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    manifests: str = Manifests
    waiver: int | None = Field(default=None, ge=1, le=2_147_483_647)


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str = Field(default="", max_length=4000)


class ApplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    override_window: bool = Field(default=False, alias="overrideWindow")


class ApprovalOut(BaseModel):
    approver: str
    approver_subject: str = Field(serialization_alias="approverSubject")
    team: str
    diff_hash: str = Field(serialization_alias="diffHash")
    approved_at: datetime = Field(serialization_alias="approvedAt")
    expires_at: datetime = Field(serialization_alias="expiresAt")
    counts: bool


class ChangeOut(BaseModel):
    id: int
    app: str
    env: str
    team: str
    title: str
    status: str
    author: str
    author_subject: str = Field(serialization_alias="authorSubject")
    manifests: str
    diff: str
    diff_hash: str = Field(serialization_alias="diffHash")
    approved_hash: str | None = Field(serialization_alias="approvedHash")
    preflight: dict[str, Any]
    preflight_blocking: bool = Field(serialization_alias="preflightBlocking")
    waiver: int | None
    reverts: int | None
    approvals: list[ApprovalOut]
    created_at: datetime = Field(serialization_alias="createdAt")
    updated_at: datetime = Field(serialization_alias="updatedAt")
    decided_by: str = Field(serialization_alias="decidedBy")
    decision_note: str = Field(serialization_alias="decisionNote")
    applied_by: str = Field(serialization_alias="appliedBy")
    applied_at: datetime | None = Field(serialization_alias="appliedAt")
    commit_sha: str | None = Field(serialization_alias="commitSha")
    window_override: str = Field(serialization_alias="windowOverride")
    finished_at: datetime | None = Field(serialization_alias="finishedAt")
